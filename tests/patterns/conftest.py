"""Fixtures the pattern modules share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.otlp import Receiver, running_receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """A real OTLP/gRPC receiver on loopback, collecting what services and Envoy export."""
    with running_receiver(tmp_path_factory.mktemp("otlp")) as running:
        yield running
