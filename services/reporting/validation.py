"""The request constraints of shop.reporting.v1, as written beside each field in the proto."""

from __future__ import annotations

import uuid

from shop.reporting.v1 import reporting_pb2 as v1

from protomesh.errors import FieldViolation
from protomesh.interceptors.validation import Validator


def get_customer_summary(request: v1.GetCustomerSummaryRequest) -> list[FieldViolation]:
    if not request.customer_id:
        return [FieldViolation("customer_id", "required")]
    if len(request.customer_id) > 36:
        return [FieldViolation("customer_id", "at most 36 characters")]
    try:
        uuid.UUID(request.customer_id)
    except ValueError:
        return [FieldViolation("customer_id", "not a UUID")]
    return []


VALIDATORS: dict[str, Validator] = {
    "/shop.reporting.v1.ReportingService/GetCustomerSummary": get_customer_summary,
}
