"""One JSON call to the provider, with a deadline (stdlib urllib, in a worker thread).

urllib rather than an async client: two calls per order do not justify a new
runtime dependency, and a thread per in-flight call is bounded by the
service's `max_concurrent_calls`. The deadline covers connect and read.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any


class Unreachable(Exception):
    """No usable answer: refused, timed out, an HTTP error status, or not JSON."""


def _post(url: str, body: dict[str, Any] | None, headers: dict[str, str], timeout: float) -> Any:
    """POST `body` (GET without one); the parsed JSON answer."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json", **headers},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise Unreachable(f"HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
        raise Unreachable(str(error)) from error


async def post_json(
    url: str, body: dict[str, Any] | None, *, headers: dict[str, str], seconds: float
) -> dict[str, Any]:
    """The provider's JSON answer within `seconds` (urllib's socket timeout, not a task timeout:
    the worker thread cannot be cancelled, so the bound must be in the socket)."""
    answer = await asyncio.to_thread(_post, url, body, headers, seconds)
    if not isinstance(answer, dict):
        raise Unreachable(f"not a JSON object: {answer!r}")
    return answer
