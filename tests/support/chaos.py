"""Kill each part of a running mesh with SIGKILL under a mixed load, then check from outside.

The load (edge_load.py) signs users up, places orders with an Idempotency-Key
(retrying a retryable failure with the same key, as the README says), cancels
some and reads them. One part at a time is killed; the supervisor brings it
back. Afterwards, with the load stopped and the events given time to flow:

- every acknowledged (200) write is readable through the edge;
- no idempotency key produced two orders (one order id per key; a customer's
  orders are exactly those of their keys);
- every acknowledged order has exactly one OrderPlaced in JetStream, and the
  user service counted it once (`customer_order_counts`), and every user
  reached the order service's customer copy (`customer_directory`);
- every failed request failed with a retryable answer (503, 429, or no answer
  while the edge itself was down), never a 500, and none took longer than the
  route's timeout;
- the seconds from each kill to the part SERVING again (a direct probe from
  outside, recovery_probe.py), to the edge routing to it again, and to the next
  acknowledged write.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shop.order.events.v1 import events_pb2

from protomesh.bus.connection import connect_nats
from protomesh.tls.files import TlsFiles
from tests.support import recovery_probe
from tests.support.edge_load import EdgeClient, Outcome, running
from tests.support.mesh_cluster import MeshCluster

RETRYABLE = {0, 429, 503}  # 0: no answer (the edge itself was being restarted)
ROUTE_TIMEOUT = 5.0  # mesh.yaml's edge.defaults.timeout
SLACK = 1.0
KEY_ATTEMPTS = 40  # a write keeps its key through a part's whole restart
PARTS = ("user", "order", "nats", "postgres", "edge")


@dataclass
class Ledger:
    """What the clients were told, by idempotency key."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    orders_by_key: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    owner_of_key: dict[str, str] = field(default_factory=dict)
    unresolved: set[str] = field(default_factory=set)  # keys that finally failed
    cancelled: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Recovery:
    part: str
    killed_at: float
    serving_after: float | None
    routed_after: float | None  # the edge's health checks count it healthy (services only)
    write_after: float | None


def _write(
    client: EdgeClient, ledger: Ledger, user: str, token: str, stop: threading.Event
) -> None:
    key = str(uuid.uuid4())
    with ledger.lock:
        ledger.owner_of_key[key] = user
    body = {
        "customer_id": user,
        "items": [
            {
                "sku": "BOOK-1",
                "quantity": 1,
                "unit_price": {"currency_code": "EUR", "amount_minor": 990},
            }
        ],
    }
    for attempt in range(KEY_ATTEMPTS):
        status, reply = client.call(
            "place_order", "POST", "/v1/orders", body=body, token=token, key=key
        )
        if status == 200:
            order = str(reply["order"]["order_id"])
            with ledger.lock:
                ledger.orders_by_key[key].add(order)
            if random.random() < 0.3:
                _cancel(client, ledger, order, token)
            return
        if status not in RETRYABLE:
            break
        time.sleep(min(0.1 * 2**attempt, 1.0))
    with ledger.lock:
        ledger.unresolved.add(key)


def _cancel(client: EdgeClient, ledger: Ledger, order: str, token: str) -> None:
    key = str(uuid.uuid4())
    for attempt in range(KEY_ATTEMPTS):
        status, _ = client.call(
            "cancel_order",
            "POST",
            f"/v1/orders/{order}:cancel",
            body={"order_id": order},
            token=token,
            key=key,
        )
        if status == 200:
            with ledger.lock:
                ledger.cancelled.add(order)
            return
        if status not in RETRYABLE:
            return
        time.sleep(min(0.1 * 2**attempt, 1.0))


@dataclass
class Report:
    acked: int
    lost: list[str]
    duplicated: list[str]
    finally_failed: int
    bad_answers: list[Outcome]
    too_slow: list[Outcome]
    event_problems: list[str]
    recoveries: list[Recovery]
    failed_requests: int
    requests: int

    def table(self) -> str:
        lines = [
            f"requests {self.requests}, failed (retryable, then retried) {self.failed_requests}",
            f"acked writes {self.acked}, lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
            f"finally failed {self.finally_failed}, non-retryable answers {len(self.bad_answers)}, "
            f"slower than the route timeout {len(self.too_slow)}, "
            f"event problems {len(self.event_problems)}",
            "",
            f"{'PART':<10} {'SERVING AGAIN (s)':>18} {'IN THE EDGE (s)':>16} "
            f"{'FIRST WRITE (s)':>16}",
        ]
        for r in self.recoveries:
            serving, routed, write = (
                "-" if value is None else f"{value:.2f}"
                for value in (r.serving_after, r.routed_after, r.write_after)
            )
            lines.append(f"{r.part:<10} {serving:>18} {routed:>16} {write:>16}")
        return "\n".join(lines)


def run(cluster: MeshCluster, *, seconds_per_part: float, users: int = 4) -> Report:
    client = EdgeClient(cluster.edge_port)
    ledger = Ledger()
    accounts = [client.sign_up() for _ in range(users)]
    tokens = [cluster.cli("token", "--sub", user).strip() for user in accounts]

    def shop(index: int, stop: threading.Event) -> None:
        while not stop.is_set():
            _write(client, ledger, accounts[index], tokens[index], stop)
            client.call(
                "list_orders", "GET", f"/v1/customers/{accounts[index]}/orders", token=tokens[index]
            )
            time.sleep(0.3)  # under PlaceOrder's 5 a second per user

    recoveries = []
    with running(users, shop):
        time.sleep(seconds_per_part)
        for part in PARTS:
            recoveries.append(_kill_and_watch(cluster, client, part, seconds_per_part))
    report_events = asyncio.run(_check_events(cluster, ledger, accounts))
    lost = _unreadable(client, ledger, dict(zip(accounts, tokens, strict=True)))
    duplicated = [key for key, orders in ledger.orders_by_key.items() if len(orders) > 1]
    duplicated += _extra_orders(client, ledger, dict(zip(accounts, tokens, strict=True)))
    failed = [o for o in client.outcomes if o.status != 200]
    return Report(
        acked=len(ledger.orders_by_key),
        lost=lost,
        duplicated=duplicated,
        finally_failed=len(ledger.unresolved),
        bad_answers=[o for o in failed if o.status not in RETRYABLE],
        too_slow=[o for o in client.outcomes if o.elapsed > ROUTE_TIMEOUT + SLACK],
        event_problems=report_events,
        recoveries=recoveries,
        failed_requests=len(failed),
        requests=len(client.outcomes),
    )


def _process_of(cluster: MeshCluster, part: str) -> str:
    names = [name for name in cluster.recorded() if name == part or name.startswith(f"{part}-")]
    return names[0]


def _kill_and_watch(
    cluster: MeshCluster, client: EdgeClient, part: str, seconds: float
) -> Recovery:
    name = _process_of(cluster, part)
    record = cluster.recorded()[name]
    pid = record["pid"]
    watch, close = _watch(cluster, part)
    try:
        killed_at = time.monotonic()
        if part == "postgres":
            os.kill(pid, signal.SIGKILL)  # the postmaster: its backends notice and exit
        else:
            os.killpg(pid, signal.SIGKILL)
        deadline = killed_at + 60
        recovery_probe.wait_gone(pid, record.get("start_ticks"), deadline)
        serving_after = recovery_probe.seconds_until(watch.serving, killed_at, deadline)
        routed_after = None
        if watch.routed is not None and serving_after is not None:
            routed_after = recovery_probe.seconds_until(watch.routed, killed_at, deadline)
    finally:
        close()
    time.sleep(max(0.0, seconds - (time.monotonic() - killed_at)))
    writes = [  # sent after the kill: one in flight may still be answered by a dying part
        o.at
        for o in client.outcomes
        if o.operation == "place_order" and o.status == 200 and o.at - o.elapsed > killed_at
    ]
    write_after = min(writes) - killed_at if writes else None
    return Recovery(part, killed_at, serving_after, routed_after, write_after)


def _watch(cluster: MeshCluster, part: str) -> tuple[recovery_probe.Watch, Callable[[], None]]:
    """The probes that say `part` is back, and how to let go of them afterwards."""
    admin_port = int(cluster.document["edge"]["admin_port"]["local"])
    if part == "postgres":
        return recovery_probe.Watch(recovery_probe.postgres_ready(cluster.port_of(part))), _nothing
    if part == "nats":
        monitor = int(cluster.document["infrastructure"]["nats"]["monitor_port"]["local"])
        return recovery_probe.Watch(recovery_probe.nats_healthy(monitor)), _nothing
    if part == "edge":
        return recovery_probe.Watch(recovery_probe.edge_live(admin_port)), _nothing
    port = int(cluster.document["services"][part]["port"]["local"])
    health = recovery_probe.ServiceHealth(port, recovery_probe.operator_tls(cluster.run_dir))
    in_edge = recovery_probe.in_edge(admin_port, part)
    return recovery_probe.Watch(health, lambda: health() and in_edge()), health.close


def _nothing() -> None:
    return None


def _unreadable(client: EdgeClient, ledger: Ledger, tokens: dict[str, str]) -> list[str]:
    lost = []
    for key, orders in ledger.orders_by_key.items():
        token = tokens[ledger.owner_of_key[key]]
        for order in orders:
            status, reply = _read(client, f"/v1/orders/{order}", token)
            if status != 200:
                lost.append(order)
            elif order in ledger.cancelled and reply["order"]["status"] != "ORDER_STATUS_CANCELLED":
                lost.append(f"{order} (cancel)")
    return lost


def _extra_orders(client: EdgeClient, ledger: Ledger, tokens: dict[str, str]) -> list[str]:
    """Orders a customer has that no acknowledged key accounts for (beyond keys that failed)."""
    extra = []
    for user, token in tokens.items():
        listed = _all_orders(client, user, token)
        acked = {
            o
            for key, orders in ledger.orders_by_key.items()
            if ledger.owner_of_key[key] == user
            for o in orders
        }
        uncertain = sum(1 for key in ledger.unresolved if ledger.owner_of_key[key] == user)
        unexplained = listed - acked
        if len(unexplained) > uncertain:
            extra.append(f"{user}: {len(unexplained)} orders no acknowledged key placed")
    return extra


def _read(client: EdgeClient, path: str, token: str) -> tuple[int, dict[str, Any]]:
    """A read-back, waiting out the end user's rate limit (the checks read a lot at once)."""
    for _ in range(100):
        status, reply = client.call("read_back", "GET", path, token=token)
        if status not in RETRYABLE:
            return status, reply
        time.sleep(0.1)
    return status, reply


def _all_orders(client: EdgeClient, user: str, token: str) -> set[str]:
    listed: set[str] = set()
    page = ""
    for _ in range(1000):  # bounded: 100 000 orders
        path = f"/v1/customers/{user}/orders?page_size=100&page_token={page}"
        status, reply = _read(client, path, token)
        assert status == 200, reply
        listed |= {o["order_id"] for o in reply.get("orders", [])}
        page = reply.get("next_page_token", "")
        if not page:
            break
    return listed


async def _check_events(cluster: MeshCluster, ledger: Ledger, users: list[str]) -> list[str]:
    """Wait (bounded) for the events to flow, then compare the stream and both consumers."""
    acked = {o for orders in ledger.orders_by_key.values() for o in orders}
    problems: list[str] = []
    for _ in range(60):
        problems = await _event_problems(cluster, ledger, acked, users)
        if not problems:
            return []
        await asyncio.sleep(0.5)
    return problems


async def _event_problems(
    cluster: MeshCluster, ledger: Ledger, acked: set[str], users: list[str]
) -> list[str]:
    problems = []
    placed = await placed_in_stream(cluster)
    for order in acked:
        if placed[order] != 1:
            problems.append(f"{order}: {placed[order]} OrderPlaced in JetStream")
    connection = await cluster.admin_connection()
    try:
        counts = {
            str(r[0]): (r[1], r[2])
            for r in await connection.fetch(
                "SELECT customer_id, placed_count, cancelled_count FROM users.customer_order_counts"
            )
        }
        copies = {
            str(r[0])
            for r in await connection.fetch("SELECT customer_id FROM orders.customer_directory")
        }
    finally:
        await connection.close()
    for user in users:
        keys = [k for k, owner in ledger.owner_of_key.items() if owner == user]
        mine = {o for k in keys for o in ledger.orders_by_key.get(k, ())}
        uncertain = sum(1 for k in keys if k in ledger.unresolved)
        counted = counts.get(user, (0, 0))[0]
        if not len(mine) <= counted <= len(mine) + uncertain:
            problems.append(f"{user}: {len(mine)} acked orders, user service counted {counted}")
        if user not in copies:
            problems.append(f"{user}: missing from the order service's customer copy")
    return problems


async def placed_in_stream(cluster: MeshCluster) -> Counter[str]:
    # NATS takes mutual TLS only: as the operator, who may read any stream.
    client = await connect_nats(
        f"tls://127.0.0.1:{cluster.port_of('nats')}",
        name="chaos-check",
        tls=TlsFiles.of(cluster.run_dir / "certs", "operator"),
        max_reconnect_attempts=3,
    )
    try:
        stream = client.jetstream()
        subscription = await stream.subscribe("order.events.v1.OrderPlaced", ordered_consumer=True)
        placed: Counter[str] = Counter()
        while True:  # the whole stream's OrderPlaced, until a second passes with no more
            try:
                message = await subscription.next_msg(timeout=1)
            except TimeoutError:
                break
            event = events_pb2.OrderPlaced()
            event.ParseFromString(message.data)
            placed[event.order_id] += 1
        await subscription.unsubscribe()
        return placed
    finally:
        await client.close()
