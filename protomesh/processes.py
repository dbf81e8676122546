"""One replica of a service as N server processes sharing its port, to use every core.

A `grpc.aio` server runs its handlers on one event-loop thread, so one process
uses about one core. `<PREFIX>WORKERS` (mesh.yaml's `workers:`) asks for more:

    USER_SERVICE_WORKERS=2 python -m services.user     # or `auto`: one per core

The process started that way becomes the replica's *parent*: it execs into
`python -m protomesh.process_family`, which claims the port, starts N *server
processes* (the same command line again, each a whole service with its own
pool and health) and supervises them. With 1 — the default of a bare run —
nothing of this happens: the service runs in the process that was started.

"Server processes" is the name on purpose: a service's `workers` in
`protomesh.server` are its background tasks (outbox relay, consumers), which
run in server process 0 alone; its `process_workers` run in each.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from protomesh import runner
from protomesh.process_family import FamilySpec
from protomesh.process_role import current_role, process_count
from protomesh.settings import ServerSettings

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def run(
    main: Callable[[], Coroutine[Any, Any, None]], settings: ServerSettings, prefix: str
) -> None:
    """Run `main` in this process, or as `settings.workers` server processes under a parent."""
    role = current_role()
    if role.parent is not None:
        _die_with_parent(role.parent)
        runner.run(main)
        return
    try:
        count = process_count(settings.workers)
    except ValueError as error:
        print(f"{prefix}WORKERS: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    if count == 1:
        runner.run(main)
        return
    spec = FamilySpec(
        _service_name(),
        prefix,
        count,
        list(sys.orig_argv),
        settings.host,
        settings.port,
        settings.metrics_port,
        settings.shutdown_delay,
        settings.grace_period,
        settings.log_level,
        settings.log_pretty,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "protomesh.process_family", spec.to_json()])


def _service_name() -> str:
    """`user` for `python -m services.user`: the name its log lines carry."""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    package = getattr(main_spec, "parent", None) or "service"
    return str(package).rsplit(".", 1)[-1]


def _die_with_parent(parent: int) -> None:
    """A parent killed with SIGKILL cannot stop its server processes: have the kernel
    SIGTERM this one when it goes, so no orphan keeps serving a replica that is gone."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(f"server process: its parent {parent} is gone")
