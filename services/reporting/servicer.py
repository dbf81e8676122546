"""shop.reporting.v1.ReportingService: the query side; no RPC here writes anything.

Authorization by end user: a call the edge forwards (or any call carrying an
end user) reads only that user's own summary, whatever the route's edge
policy says; a service-to-service caller the mesh admits (bff, operator)
reads any.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from shop.reporting.v1 import reporting_pb2 as v1
from shop.reporting.v1 import reporting_pb2_grpc

from protomesh import request_context
from protomesh.edge_auth import end_user, require_end_user
from services.reporting.domain import CustomerSummary
from services.reporting.queries import StreamPosition, SummaryQueries

Context = grpc.aio.ServicerContext[Any, Any]


def _timestamp(moment: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def to_summary(summary: CustomerSummary) -> v1.CustomerSummary:
    message = v1.CustomerSummary(
        customer_id=summary.customer_id,
        display_name=summary.display_name,
        orders_placed=summary.orders_placed,
        orders_cancelled=summary.orders_cancelled,
        total_spent=[
            v1.CurrencyTotal(currency_code=code, amount_minor=amount)
            for code, amount in sorted(summary.spent.items())
        ],
    )
    if summary.last_order_time is not None:
        message.last_order_time.CopyFrom(_timestamp(summary.last_order_time))
    return message


def to_position(position: StreamPosition) -> v1.StreamPosition:
    return v1.StreamPosition(
        stream=position.stream,
        sequence=position.sequence,
        event_time=_timestamp(position.event_time),
        applied_time=_timestamp(position.applied_at),
    )


class ReportingServiceV1(reporting_pb2_grpc.ReportingServiceServicer):
    def __init__(self, queries: SummaryQueries) -> None:
        self._queries = queries

    async def GetCustomerSummary(
        self, request: v1.GetCustomerSummaryRequest, context: Context
    ) -> v1.GetCustomerSummaryResponse:
        customer_id = str(uuid.UUID(request.customer_id))  # validated: canonical form
        if request_context.caller.get() == "edge" or end_user(context) is not None:
            require_end_user(context, owner=customer_id)
        answer = await self._queries.customer_summary(customer_id)
        # Not seen yet is not "does not exist": the events may still be on their way.
        summary = answer.summary or CustomerSummary(customer_id)
        return v1.GetCustomerSummaryResponse(
            summary=to_summary(summary),
            freshness=[to_position(p) for p in answer.freshness],
        )
