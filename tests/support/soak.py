"""`make soak MINUTES=10`: a steady mixed load on a cluster of its own, sampled each minute.

Prints, per minute: requests, error rate, p99 latency through the edge, the
resident memory of each component (its whole process family: PostgreSQL's
backends count for PostgreSQL), and the rows in the tables the pruner keeps
bounded (docs/deployment.md, "Retention"). The run shortens their retentions
to a minute or less (`SHORT_RETENTION`), so a few minutes show the counts
level off instead of growing with the load. At the end, the growth of each
component's memory and the drift of p99 from the first minute after warm-up
to the last. A measurement, not a test: it asserts nothing and prints what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from protomesh_toolkit.cluster import processes
from tests.support.edge_load import EdgeClient, Outcome, running
from tests.support.mesh_cluster import MeshCluster, mesh_cluster

USERS = 4
# Seconds, for every service of the run (protomesh.pruning.overrides): far below the
# production bounds, so pruning visibly happens within minutes.
SHORT_RETENTION = {
    "PROTOMESH_PRUNE_PROCESSED_EVENTS": "60",
    "PROTOMESH_PRUNE_OUTBOX": "30",
    "PROTOMESH_PRUNE_EVERY": "15",
    "USER_SERVICE_IDEMPOTENCY_RETENTION": "60",
    "ORDER_SERVICE_IDEMPOTENCY_RETENTION": "60",
}
# Column -> the table it counts: the ones that grow with every write or event.
PRUNED_TABLES = {
    "u.proc": "users.processed_events",
    "u.keys": "users.idempotency_keys",
    "u.outbox": "users.outbox",
    "o.proc": "orders.processed_events",
    "o.keys": "orders.idempotency_keys",
    "o.outbox": "orders.outbox",
    "r.applied": "reporting.applied_events",
}


def rss_mib(pid: int) -> float:
    """Resident memory of the process `pid` leads and its descendants, in MiB."""
    total = 0
    for member in processes.family(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def p99(outcomes: list[Outcome]) -> float:
    if len(outcomes) < 2:
        return outcomes[0].elapsed if outcomes else 0.0
    return statistics.quantiles([o.elapsed for o in outcomes], n=100)[98]


async def row_counts(cluster: MeshCluster) -> dict[str, int]:
    connection = await cluster.admin_connection()
    try:
        return {
            column: await connection.fetchval(f"SELECT count(*) FROM {table}")
            for column, table in PRUNED_TABLES.items()
        }
    finally:
        await connection.close()


def soak(cluster: MeshCluster, minutes: int) -> None:
    client = EdgeClient(cluster.edge_port)
    users = [client.sign_up() for _ in range(USERS)]
    tokens = [cluster.cli("token", "--sub", user).strip() for user in users]

    def shop(index: int, stop: threading.Event) -> None:
        user, token = users[index], tokens[index]
        while not stop.is_set():
            order = client.place_order(user, token, str(uuid.uuid4()), retries=0)
            if order is not None:
                client.call("get_order", "GET", f"/v1/orders/{order}", token=token)
            client.call("list", "GET", f"/v1/customers/{user}/orders?page_size=10", token=token)
            time.sleep(0.3)

    names = list(cluster.recorded())
    print(
        f"{'MIN':>3} {'REQS':>6} {'ERR%':>6} {'P99 ms':>7}  "
        + " ".join(f"{n:>9}" for n in names)
        + "  "
        + " ".join(f"{c:>9}" for c in PRUNED_TABLES)
    )
    rows = []
    with running(USERS, shop):
        seen = 0
        for minute in range(1, minutes + 1):
            time.sleep(60)
            window = client.outcomes[seen:]
            seen += len(window)
            errors = sum(1 for o in window if o.status != 200)
            pids = {n: r["pid"] for n, r in cluster.recorded().items()}
            memory = {n: rss_mib(pids[n]) for n in names}
            rows.append((p99(window), memory))
            rate = 100 * errors / max(1, len(window))
            cells = " ".join(f"{memory[n]:>7.1f}Mi" for n in names)
            rows_now = asyncio.run(row_counts(cluster))
            counts = " ".join(f"{rows_now[c]:>9}" for c in PRUNED_TABLES)
            print(
                f"{minute:>3} {len(window):>6} {rate:>6.2f} {p99(window) * 1000:>7.1f}"
                f"  {cells}  {counts}",
                flush=True,
            )
    if len(rows) >= 2:
        (first_p99, first_memory), (last_p99, last_memory) = rows[min(1, len(rows) - 2)], rows[-1]
        growth = ", ".join(
            f"{n} {100 * (last_memory[n] / first_memory[n] - 1):+.1f}%" for n in names
        )
        print(f"\nRSS growth after warm-up: {growth}")
        print(f"p99 drift after warm-up: {100 * (last_p99 / first_p99 - 1):+.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(prog="make soak")
    parser.add_argument("--minutes", type=int, default=10)
    minutes = parser.parse_args().minutes
    os.environ.update(SHORT_RETENTION)  # inherited by `protomesh up` and every service
    with (
        tempfile.TemporaryDirectory(prefix="protomesh-soak-") as directory,
        mesh_cluster(Path(directory)) as cluster,
    ):
        cluster.cli("up", timeout=180)
        soak(cluster, minutes)


if __name__ == "__main__":
    main()
