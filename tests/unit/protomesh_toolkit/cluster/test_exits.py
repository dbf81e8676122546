"""Waiting for a process to exit: woken by the exit itself, not by the timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from protomesh_toolkit.cluster.exits import wait_any

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = [subprocess.Popen(SLEEPER) for _ in range(2)]
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(5)


def test_an_exit_wakes_the_wait_long_before_its_timeout(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    killer = threading.Timer(0.2, os.kill, (sleepers[1].pid, signal.SIGKILL))
    killer.start()
    try:
        woken = wait_any([p.pid for p in sleepers], timeout=60)
    finally:
        killer.cancel()
    assert woken  # False would mean it waited the whole minute
    assert sleepers[0].poll() is None


def test_without_an_exit_it_returns_false_at_the_timeout(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    assert not wait_any([p.pid for p in sleepers], timeout=0.05)


def test_a_process_already_gone_counts_as_exited(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    sleepers[0].kill()
    sleepers[0].wait(5)  # reaped: its pid names nothing now
    assert wait_any([p.pid for p in sleepers], timeout=60)


def test_with_nothing_to_watch_it_waits_the_timeout() -> None:
    assert not wait_any([], timeout=0.01)
