"""A servicer context with just what authorization reads: metadata and the TLS peer."""

from __future__ import annotations

from typing import Any, cast

import grpc


class FakeContext:
    def __init__(
        self, trust_domain: str, caller: str | None, metadata: list[tuple[str, str]]
    ) -> None:
        self.metadata = metadata
        self.auth: dict[str, list[bytes]] = {}
        if caller is not None:
            self.auth["peer_spiffe_id"] = [f"spiffe://{trust_domain}/svc/{caller}".encode()]

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return self.metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return self.auth

    @property
    def typed(self) -> grpc.aio.ServicerContext[Any, Any]:
        return cast("grpc.aio.ServicerContext[Any, Any]", self)
