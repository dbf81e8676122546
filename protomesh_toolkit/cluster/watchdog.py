"""The supervisor's loop: restart each component that exits, dependencies first.

It watches the components recorded in cluster.json, so it acts only on what
`up` started, checked by pid and start time as `down` does. A component found
gone is started again once everything it depends on is healthy (PostgreSQL
before the services that use it, so a crash of both comes back in the order
`up` used), after the pause its restart budget asks for; past the budget it
is marked failed and left down. Each restart holds the cluster lock, so it
never races an `up` or a `down`; when one of those holds it, the restart
waits for the next round.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping

from protomesh.registry import Mesh
from protomesh_toolkit.cluster import exits, state
from protomesh_toolkit.cluster.components import Component, ServiceProcess, stop
from protomesh_toolkit.cluster.restarts import RestartBudget, exit_reason
from protomesh_toolkit.cluster.state import Record
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout

log = logging.getLogger("protomesh_toolkit.cluster.watchdog")

# A death wakes the loop at once (exits.py); this is how often it looks anyway,
# for SIGTERM and for what an `up` or a `down` changed meanwhile.
POLL_INTERVAL = 0.2


class Watchdog:
    def __init__(
        self, layout: Layout, mesh: Mesh, planned: Mapping[str, Component], timeout: float
    ) -> None:
        self.layout = layout
        self.planned = planned
        self.timeout = timeout
        self.dependencies = {name: _dependencies(mesh, planned, p) for name, p in planned.items()}
        self.budgets = {name: RestartBudget() for name in planned}
        self.stopping = False

    def stop(self) -> None:
        """Finish the step in hand and return from `run` (SIGTERM from `protomesh down`)."""
        self.stopping = True

    def run(self) -> None:
        log.info("supervising %s", ", ".join(self.planned))
        while not self.stopping:
            self.round()
            exits.wait_any(self.watched(), POLL_INTERVAL)
        log.info("supervisor stopping")

    def watched(self) -> list[int]:
        """The pids whose exit must wake the loop: every planned component running now."""
        records = state.load(self.layout).values()
        return [r.pid for r in records if r.name in self.planned and r.is_running()]

    def round(self) -> None:
        """Restart whatever has exited, in start order; skip the round if the lock is busy."""
        if not any(self._needs_restart(r) for r in state.load(self.layout).values()):
            return
        try:
            with state.exclusive(self.layout):
                records = state.load(self.layout)  # again, under the lock: `up` may have acted
                for name in self.planned:
                    record = records.get(name)
                    if self.stopping or record is None or not self._needs_restart(record):
                        continue
                    if not self._dependencies_healthy(name, records):
                        continue
                    records[name] = self._restart(record)
                    state.save(self.layout, records)
        except ClusterError as error:
            log.info("restart deferred: %s", error)

    def _needs_restart(self, record: Record) -> bool:
        return record.name in self.planned and not record.failed and not record.is_running()

    def _dependencies_healthy(self, name: str, records: Mapping[str, Record]) -> bool:
        for dependency in self.dependencies[name]:
            record = records.get(dependency)
            if record is None or not record.is_running():
                return False
            if not self.planned[dependency].probe().healthy:
                return False
        return True

    def _restart(self, record: Record) -> Record:
        component = self.planned[record.name]
        process = component.process
        ours = process is not None and process.pid == record.pid
        reason = exit_reason(process.poll() if ours and process is not None else None)
        stop(record)  # whatever it left behind in its process group
        budget = self.budgets[record.name]
        if budget.exhausted(time.monotonic()):
            log.error(
                "%s %s; %d restarts in %.0fs: marked failed, left down (`protomesh up` retries)",
                record.name,
                reason,
                budget.limit,
                budget.window,
            )
            return dataclasses.replace(record, failed=True, last_exit=reason)
        pause = budget.pause(time.monotonic())
        log.warning("%s %s; restarting it in %.1fs", record.name, reason, pause)
        self._sleep(pause)
        budget.spend(time.monotonic())
        began = time.monotonic()
        try:
            pid = component.launch(self.timeout)
        except ClusterError as error:
            log.error("%s did not start: %s", record.name, error)
            return dataclasses.replace(record, restarts=record.restarts + 1, last_exit=reason)
        restarted = state.new_record(
            component.name,
            component.kind,
            pid,
            component.port,
            component.log,
            admin_port=component.admin_port,
        )
        restarted = dataclasses.replace(restarted, restarts=record.restarts + 1, last_exit=reason)
        if self._wait_healthy(component):
            took = time.monotonic() - began
            log.info("%s healthy again in %.1fs (pid %d)", record.name, took, pid)
        return restarted

    def _wait_healthy(self, component: Component) -> bool:
        deadline = time.monotonic() + self.timeout
        while not self.stopping and time.monotonic() < deadline:
            if component.probe().healthy:
                return True
            if component.process is not None and component.process.poll() is not None:
                log.warning("%s exited before it was healthy", component.name)
                return False
            self._sleep(0.1)
        log.warning("%s is not healthy yet; leaving it running", component.name)
        return False

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, seconds))


def _dependencies(mesh: Mesh, planned: Mapping[str, Component], part: Component) -> list[str]:
    """The processes a component waits for: a service's depends_on, each replica of a service."""
    if not isinstance(part, ServiceProcess):
        return []
    names = []
    for dependency in part.service.depends_on:
        if dependency in mesh.services:
            names += [
                n
                for n, p in planned.items()
                if isinstance(p, ServiceProcess) and p.service.name == dependency
            ]
        elif dependency in planned:
            names.append(dependency)
    return names
