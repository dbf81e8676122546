"""Who a call acts for: a signed-in end user, a mesh service on its own behalf, or no one.

The authorization interceptor decides it from the caller's certificate and
the edge's forwarded subject (`protomesh/interceptors/authorization.py`);
use cases take a `Viewer` and never read metadata themselves:

    viewer = Viewer.of_call()
    if viewer.end_user is None and not viewer.internal:
        raise Unauthenticated("this call needs a signed-in user")

A call is `internal` only when its mTLS identity names a mesh service that
does not forward end users; a call through the edge without a user, and any
call without TLS, is anonymous.
"""

from __future__ import annotations

from dataclasses import dataclass

from protomesh import request_context


@dataclass(frozen=True)
class Viewer:
    end_user: str | None = None  # the subject the edge verified
    internal: bool = False  # a mesh service calling on its own behalf

    @classmethod
    def of_call(cls) -> Viewer:
        """The current call's, as the authorization interceptor recorded it."""
        return cls(request_context.end_user.get(), request_context.internal.get())


ANONYMOUS = Viewer()
INTERNAL = Viewer(internal=True)
