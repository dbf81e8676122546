"""shop.bff.web.v1.WebBffService: the signed-in customer's screens.

The customer is the end user the edge verified (`x-jwt-sub`), never a field
of the request, so one customer cannot ask for another's screen.
"""

from __future__ import annotations

from typing import Any

import grpc
from shop.bff.web.v1 import web_bff_pb2 as web
from shop.bff.web.v1 import web_bff_pb2_grpc

from protomesh.edge_auth import require_end_user
from services.bff import handlers, mapping
from services.bff.handlers import Budgets, Sources

Context = grpc.aio.ServicerContext[Any, Any]


class WebBffServiceV1(web_bff_pb2_grpc.WebBffServiceServicer):
    def __init__(self, sources: Sources, budgets: Budgets) -> None:
        self._sources = sources
        self._budgets = budgets

    async def GetDashboard(
        self, request: web.GetDashboardRequest, context: Context
    ) -> web.GetDashboardResponse:
        dashboard = await handlers.get_dashboard(
            require_end_user(context),
            request.recent_orders_limit,
            sources=self._sources,
            budgets=self._budgets,
        )
        return mapping.to_dashboard(dashboard)

    async def GetOrderPage(
        self, request: web.GetOrderPageRequest, context: Context
    ) -> web.GetOrderPageResponse:
        page = await handlers.get_order_page(
            require_end_user(context),
            request.order_id,
            sources=self._sources,
            budgets=self._budgets,
        )
        return mapping.to_order_page(page)
