"""`python -m protomesh_toolkit.cluster.supervise`: the process `protomesh up` leaves behind.

It runs `up` itself, so the components are its children and their exit status
is its to read, hands its output back to the terminal as `up` would, then
watches the cluster (watchdog.py) until `protomesh down` sends it SIGTERM.
daemon.py is the other side: how `up` starts it and `down` stops it.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
from types import FrameType

from protomesh.registry import RegistryError, load_mesh
from protomesh_toolkit.cluster import endpoints, state, supervisor
from protomesh_toolkit.cluster.daemon import NAME, READY
from protomesh_toolkit.cluster.watchdog import Watchdog
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout


def _hold_supervisor_lock(layout: Layout) -> int | None:
    """The lock only a running supervisor holds, for its lifetime; None if another has it."""
    descriptor = os.open(layout.supervisor_lock, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def _detach(layout: Layout, ready_fd: int) -> None:
    """Output to the supervisor's log from here on; tell `up` it may return."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = os.open(layout.log(NAME), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, sys.stdout.fileno())
    os.dup2(log, sys.stderr.fileno())
    os.close(log)
    os.write(ready_fd, READY)
    os.close(ready_fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protomesh up (supervisor)")
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--otlp", action="store_true")
    args = parser.parse_args(argv)
    layout = Layout.from_environment()
    try:
        mesh = load_mesh(layout.mesh_file)
        planned = supervisor.up(layout, mesh, args.timeout, otlp=args.otlp)
        print()
        print(endpoints.describe(mesh, layout), flush=True)
    except (ClusterError, RegistryError) as error:
        print(f"protomesh up: {error}", file=sys.stderr)
        return 2 if isinstance(error, RegistryError) else 1
    except KeyboardInterrupt:
        return 130
    lock = _hold_supervisor_lock(layout)
    if lock is None:  # a supervisor from an earlier `up` is watching already
        os.write(args.ready_fd, READY)
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s"
    )
    _detach(layout, args.ready_fd)
    state.save_supervisor(layout, os.getpid())
    watchdog = Watchdog(layout, mesh, planned, args.timeout)

    def on_term(signum: int, frame: FrameType | None) -> None:
        watchdog.stop()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        watchdog.run()
    finally:
        state.forget_supervisor(layout, os.getpid())
    return 0


if __name__ == "__main__":
    sys.exit(main())
