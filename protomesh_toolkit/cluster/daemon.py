"""The supervisor process as `up` and `down` see it: started to bring the cluster up, then
left behind to watch it, and stopped first by `down`.

`protomesh up` runs the `supervise` module as a process in a session of its own, with the
terminal's output, and waits on a pipe. The process starts the components
(so they are its children, and their exit status is its to read), prints what
`up` prints, then moves its output to logs/supervisor.log, writes one byte to
the pipe (`up` returns 0) and supervises until `protomesh down` sends it
SIGTERM. If starting fails it exits with `up`'s exit code and the pipe closes
empty; `up` returns that code. A second `up` while a supervisor is running
does its work and exits, leaving the first one in charge.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TextIO

from protomesh_toolkit.cluster import components, processes, state
from protomesh_toolkit.layout import Layout

SUPERVISE = "protomesh_toolkit.cluster.supervise"
READY = b"0"
NAME = "supervisor"
STOP_TIMEOUT = components.STOP_TIMEOUT + 30.0  # a restart in hand waits for its health


def start(layout: Layout, timeout: float, *, otlp: bool) -> int:
    """Run `up` in a supervisor process and return its exit code once the cluster is up."""
    readable, writable = os.pipe()
    command = [sys.executable, "-m", SUPERVISE, "--ready-fd", str(writable)]
    child = subprocess.Popen(
        [*command, "--timeout", str(timeout), *(["--otlp"] if otlp else [])],
        stdin=subprocess.DEVNULL,
        pass_fds=(writable,),
        start_new_session=True,  # `down`, not the terminal's Ctrl-C, ends it once it is up
    )
    os.close(writable)
    try:
        with os.fdopen(readable, "rb") as ready:
            if ready.read(1) == READY:
                return 0
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)  # its `up` stops what it started
        child.wait()
        raise


def stop(layout: Layout, out: TextIO) -> None:
    """Stop the supervisor (before the components, so none of them comes back)."""
    record = state.load_supervisor(layout)
    if record is None:
        return
    if record.is_running():
        print(f"  {NAME:<8}  stopping ... ", end="", flush=True, file=out)
        os.kill(record.pid, signal.SIGTERM)
        if processes.wait_for(lambda: not record.is_running(), STOP_TIMEOUT):
            print("stopped (SIGTERM)", file=out)
        else:
            os.kill(record.pid, signal.SIGKILL)
            print(f"killed (SIGKILL: still running {STOP_TIMEOUT:.0f}s after SIGTERM)", file=out)
    layout.supervisor_file.unlink(missing_ok=True)
