"""The supervisor's loop on tiny real processes: a killed one comes back, and one that
keeps crashing is marked failed after its budget instead of being restarted for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protomesh.registry import Mesh
from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.components import Component, Health
from protomesh_toolkit.cluster.restarts import RestartBudget, exit_reason
from protomesh_toolkit.cluster.watchdog import Watchdog
from protomesh_toolkit.layout import Layout

LAUNCHED: list[subprocess.Popen[bytes]] = []  # stopped and reaped after each test


class Script(Component):
    """A component whose process runs `code`; healthy while it runs."""

    kind = "service"

    def __init__(self, name: str, code: str, layout: Layout) -> None:
        super().__init__(name, 1, layout)
        self.code = code

    def launch(self, timeout: float) -> int:
        self.process = subprocess.Popen([sys.executable, "-c", self.code], start_new_session=True)
        LAUNCHED.append(self.process)
        return self.process.pid

    def probe(self) -> Health:
        alive = self.process is not None and self.process.poll() is None
        return Health(alive, "running" if alive else "gone")


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[Layout]:
    layout = Layout(tmp_path / "run", tmp_path / "mesh.yaml")
    layout.logs_dir.mkdir(parents=True)
    yield layout
    while LAUNCHED:
        process = LAUNCHED.pop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def started(layout: Layout, *parts: Script) -> Watchdog:
    mesh = Mesh("protomesh.test", ("local",), {}, {}, tuple(p.name for p in parts))
    records = {}
    for part in parts:
        pid = part.launch(5)
        records[part.name] = state.new_record(part.name, part.kind, pid, part.port, part.log)
    state.save(layout, records)
    return Watchdog(layout, mesh, {p.name: p for p in parts}, timeout=5)


def rounds_until(watchdog: Watchdog, layout: Layout, done: str, limit: int = 50) -> None:
    for _ in range(limit):
        watchdog.round()
        record = state.load(layout)[done]
        if record.failed or (record.restarts and record.is_running()):
            return
    raise AssertionError(f"{done} neither restarted nor failed in {limit} rounds")


def test_a_killed_component_is_started_again_and_its_exit_recorded(layout: Layout) -> None:
    sleeper = Script("sleeper", "import time; time.sleep(60)", layout)
    watchdog = started(layout, sleeper)
    first = state.load(layout)["sleeper"].pid
    os.kill(first, signal.SIGKILL)
    assert sleeper.process is not None
    sleeper.process.wait(5)

    rounds_until(watchdog, layout, "sleeper")

    record = state.load(layout)["sleeper"]
    assert record.pid != first
    assert record.is_running()
    assert (record.restarts, record.last_exit, record.failed) == (1, "killed by SIGKILL", False)


def test_a_component_crashing_in_a_loop_is_marked_failed_and_left_down(layout: Layout) -> None:
    crasher = Script("crasher", "import sys; sys.exit(3)", layout)
    watchdog = started(layout, crasher)
    watchdog.budgets["crasher"] = RestartBudget(limit=2, window=60)
    launches = []
    for _ in range(40):
        watchdog.round()
        record = state.load(layout)["crasher"]
        launches.append(record.pid)
        if record.failed:
            break
        if crasher.process is not None:
            crasher.process.wait(5)

    record = state.load(layout)["crasher"]
    assert record.failed
    assert record.restarts == 2
    assert record.last_exit == "exited with code 3"
    assert len(set(launches)) == 3  # `up`'s start and two restarts, no more
    watchdog.round()
    assert state.load(layout)["crasher"].pid == record.pid  # failed: not started again


def test_the_budget_pauses_longer_each_time_and_forgets_old_restarts() -> None:
    budget = RestartBudget(limit=3, window=10)
    pauses = []
    for now in (0.0, 1.0, 2.0):
        pauses.append(budget.pause(now))
        budget.spend(now)
    assert pauses == [0.0, 0.5, 1.0]
    assert budget.exhausted(3.0)
    assert not budget.exhausted(11.5)  # the first restart is out of the window
    assert budget.pause(30.0) == 0.0


def test_exit_reasons_read_as_a_person_says_them() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(1) == "exited with code 1"
    assert exit_reason(None).startswith("exited (not started by this supervisor")


def test_the_running_loop_restarts_a_killed_component_without_a_round_being_asked(
    layout: Layout,
) -> None:
    sleeper = Script("sleeper", "import time; time.sleep(60)", layout)
    watchdog = started(layout, sleeper)
    first = state.load(layout)["sleeper"].pid
    assert watchdog.watched() == [first]
    loop = threading.Thread(target=watchdog.run)
    loop.start()
    try:
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            record = state.load(layout)["sleeper"]
            if record.restarts and record.is_running():
                break
            time.sleep(0.05)
    finally:
        watchdog.stop()
        loop.join(10)
    record = state.load(layout)["sleeper"]
    assert (record.restarts, record.last_exit) == (1, "killed by SIGKILL")
    assert watchdog.watched() == [record.pid]
    assert not loop.is_alive()
