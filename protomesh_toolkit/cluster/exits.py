"""Wait for one of a set of processes to exit, woken by the kernel rather than by polling.

The supervisor used to look every 0.2 s, so a kill -9 went unnoticed for
0.1 s on average before the restart even began. A pidfd (Linux 5.3+) becomes
readable the moment its process exits, whether or not it is our child, so
`wait_any` returns at once; where pidfds are missing it simply sleeps the
timeout, which is the old polling.

Only pass processes that are running: a zombie's pidfd is readable at once,
and one nobody reaps would wake the caller for ever.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterable


def wait_any(pids: Iterable[int], timeout: float) -> bool:
    """Block until one of `pids` exits or `timeout` seconds pass; True when one exited
    (or was already gone)."""
    descriptors: list[int] = []
    try:
        for pid in pids:
            try:
                descriptors.append(os.pidfd_open(pid))
            except ProcessLookupError:
                return True
            except (AttributeError, OSError):  # no pidfds here: poll as before
                time.sleep(timeout)
                return False
        if not descriptors:
            time.sleep(timeout)
            return False
        waiter = select.poll()
        for descriptor in descriptors:
            waiter.register(descriptor, select.POLLIN)
        return bool(waiter.poll(timeout * 1000))
    finally:
        for descriptor in descriptors:
            with contextlib.suppress(OSError):
                os.close(descriptor)
