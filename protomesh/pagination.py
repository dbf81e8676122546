"""Opaque page tokens for keyset pagination.

A token carries the position after the last item served and a fingerprint of
the filter it was issued for, base64url-encoded. Keyset positions (not
offsets) keep pages stable while rows are inserted; the fingerprint stops a
token from one filter being replayed against another. Tokens are opaque to
clients by contract, so the encoding can change.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from protomesh.errors import FieldViolation, InvalidArgument


def encode_page_token(position: dict[str, Any], filter_key: str = "") -> str:
    payload = json.dumps({"p": position, "f": filter_key}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(
    token: str, filter_key: str = "", field: str = "page_token"
) -> dict[str, Any]:
    """The position in `token`; INVALID_ARGUMENT if it is not one we issued for this filter."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        position, issued_for = payload["p"], payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidArgument(
            [FieldViolation(field, "not a page token issued by this API")]
        ) from None
    if not isinstance(position, dict) or issued_for != filter_key:
        raise InvalidArgument(
            [FieldViolation(field, "the page token was issued for a different query")]
        )
    return position
