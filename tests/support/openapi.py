"""Check a reply the edge really sent against the edge's own OpenAPI document."""

from __future__ import annotations

from typing import Any

from openapi_schema_validator import OAS31Validator


def check_reply(
    document: dict[str, Any], reply: Any, path: str, verb: str, status: int = 200
) -> None:
    """Raise (jsonschema's ValidationError) when `reply` breaks the operation's schema for
    `status`: a missing required field, a wrong JSON type, an unknown enum name..."""
    described = document["paths"][path][verb]["responses"][str(status)]
    if "$ref" in described:
        described = document["components"]["responses"][str(status)]
    schema = described["content"]["application/json"]["schema"]
    OAS31Validator({**schema, "components": document["components"]}).validate(reply)
