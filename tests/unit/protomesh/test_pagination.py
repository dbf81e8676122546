from __future__ import annotations

import pytest

from protomesh.errors import InvalidArgument
from protomesh.pagination import decode_page_token, encode_page_token


def test_a_token_round_trips_its_position() -> None:
    token = encode_page_token({"t": "2026-01-01T00:00:00+00:00", "id": "x"}, "verified=None")
    assert decode_page_token(token, "verified=None") == {
        "t": "2026-01-01T00:00:00+00:00",
        "id": "x",
    }


@pytest.mark.parametrize("token", ["%%%", "bm90IGpzb24", "e30"])
def test_tokens_we_did_not_issue_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        decode_page_token(token)
    assert raised.value.violations[0].field == "page_token"
