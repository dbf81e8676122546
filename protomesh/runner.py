"""Run a service's async main on the fastest loop this platform has.

uvloop measurably speeds up grpc.aio here (+8% to +30% measured on 2 cores); it is an
optional dependency, so fall back to asyncio where it is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
