"""Per-request values that follow a call through every await (contextvars).

The interceptors set them; logging reads the request id, outbound clients read
the deadline so it propagates to the next hop.
"""

from __future__ import annotations

import time
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
rpc_method: ContextVar[str | None] = ContextVar("rpc_method", default=None)
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


def set_deadline(seconds_from_now: float) -> None:
    _deadline.set(time.monotonic() + seconds_from_now)


def time_remaining(default: float) -> float:
    """Seconds left for the current request, for the timeout of an outbound call.

    Outside a request the caller's `default` applies; inside one, never more than
    what the incoming deadline leaves, so a slow hop cannot outlive its caller.
    """
    deadline = _deadline.get()
    if deadline is None:
        return default
    return max(0.0, min(default, deadline - time.monotonic()))


# The mesh identity of the immediate caller (from its certificate), when TLS is on.
caller: ContextVar[str | None] = ContextVar("caller", default=None)
# The end user the edge verified, set only when the immediate caller may forward one.
end_user: ContextVar[str | None] = ContextVar("end_user", default=None)
# That end user's roles (the token's `roles` claim), believed from the same callers only.
end_user_roles: ContextVar[frozenset[str]] = ContextVar("end_user_roles", default=frozenset())
# Whether the call comes from a forwarder of end users (the edge): then it acts for
# an end user, anonymous or not, and the route's end-user policy applies to it.
for_end_user: ContextVar[bool] = ContextVar("for_end_user", default=False)
# True only for a call without an end user whose certificate names a mesh service that
# does not forward end users: the edge's calls without one are anonymous, not internal.
internal: ContextVar[bool] = ContextVar("internal", default=False)
