"""The mesh console in a real browser, against a real local cluster started by the test:
every component shows, a killed service turns red, a placed order's trace reads in order,
and a dead letter is replayed after a confirmation. Screenshots land in the test's
temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from nats.aio.client import Client as NatsClient
from playwright.sync_api import Browser, Page, expect

from protomesh.bus.connection import connect_nats
from protomesh.registry import DEFAULT_MESH_FILE
from protomesh.tls.files import TlsFiles
from tests.support.browser import ErrorLog, chromium
from tests.support.cluster_cli import run_protomesh
from tests.support.ports import free_port, relocate_infrastructure

pytestmark = pytest.mark.integration

T = TypeVar("T")
FLUSH = 30.0  # seconds for spans to reach the receiver: every exporter flushes about every 5 s


@dataclass
class Cluster:
    run_dir: Path
    mesh_file: Path
    edge_port: int
    nats_port: int
    console_url: str
    shots: Path

    def cli(self, *args: str) -> str:
        result = run_protomesh(self.run_dir, self.mesh_file, *args)
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result.stdout

    def pids(self) -> dict[str, int]:
        state = self.run_dir / "cluster.json"
        if not state.exists():
            return {}
        return {c["name"]: c["pid"] for c in json.loads(state.read_text())["components"]}

    @contextlib.contextmanager
    def supervisor_paused(self) -> Iterator[None]:
        """The supervisor frozen, so a part killed here stays down until it resumes.

        It restarts an exited component within a second or two, faster than a page
        refreshing every two seconds can be sure to show the outage.
        """
        result = run_protomesh(self.run_dir, self.mesh_file, "status", "--json")
        pid = json.loads(result.stdout)["supervisor_pid"]
        assert pid is not None, result.stdout
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def shot(self, page: Page, name: str) -> None:
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The project's mesh.yaml on free ports, with traces and the console; `up` prints its URL."""
    root = tmp_path_factory.mktemp("console")
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    document["telemetry"] = {
        "receiver_port": {"local": free_port()},
        "console_port": {"local": free_port()},
        "sample_rate": 1.0,
    }
    relocate_infrastructure(document)
    for service in document["services"].values():
        service.pop("replicas", None)
        service["port"] = {"local": free_port()}
        service["metrics_port"] = {"local": free_port()}
    edge_port = free_port()
    document["edge"]["port"] = {"local": edge_port}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = root / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    run_dir = root / "run"
    nats_port = document["infrastructure"]["nats"]["port"]["local"]
    shots = root / "screenshots"
    shots.mkdir()
    try:
        up = run_protomesh(run_dir, mesh_file, "up", "--otlp")
        assert up.returncode == 0, up.stdout + up.stderr
        printed = re.search(r"console\s+(http://127\.0\.0\.1:\d+/)", up.stdout)
        assert printed is not None, up.stdout
        yield Cluster(run_dir, mesh_file, edge_port, nats_port, printed.group(1), shots)
    finally:
        state = run_dir / "cluster.json"
        pids = (
            [c["pid"] for c in json.loads(state.read_text())["components"]]
            if state.exists()
            else []
        )
        run_protomesh(run_dir, mesh_file, "down")
        for pid in pids:  # only if `down` failed to
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def test_up_prints_the_console_and_the_page_shows_every_component(
    cluster: Cluster, page: Page
) -> None:
    assert cluster.cli("console").strip() == cluster.console_url
    errors = ErrorLog(page)
    page.goto(cluster.console_url)
    document = yaml.safe_load(cluster.mesh_file.read_text())
    expected = ["edge", *document["services"], *document["infrastructure"], "otlp", "console"]
    for name in expected:
        node = page.locator(f'svg.topology g.node[data-component="{name}"]')
        expect(node).to_have_attribute("data-tone", "healthy", timeout=15_000)
    for caller in document["identities"]:  # callers that are not services still show
        expect(page.locator(f'g.node[data-component="{caller}"]')).to_have_count(1)
    for durable in ("user-order-counts", "order-customer-directory"):
        expect(page.locator(f'tr[data-durable="{durable}"]')).to_have_count(1)
    page.keyboard.press("Tab")  # the first stop is the skip link, then the views
    expect(page.locator("a.skip")).to_be_focused()
    cluster.shot(page, "overview")
    assert errors.errors == []


def _place_order(cluster: Cluster) -> str:
    """A user and an order through the edge; returns the order call's request id."""
    base = f"http://127.0.0.1:{cluster.edge_port}"
    body = json.dumps(
        {"email": f"console.{uuid.uuid4().hex[:8]}@example.com", "display_name": "Ada"}
    ).encode()
    created = urllib.request.Request(
        f"{base}/v1/users", data=body, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(created, timeout=10) as reply:
        user_id = json.load(reply)["user"]["user_id"]
    token = cluster.cli("token", "--sub", user_id).strip()
    line = {
        "sku": "BOOK-1",
        "quantity": 1,
        "unit_price": {"currency_code": "EUR", "amount_minor": 990},
    }
    order = urllib.request.Request(
        f"{base}/v1/orders",
        data=json.dumps({"customer_id": user_id, "items": [line]}).encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {token}",
            "idempotency-key": uuid.uuid4().hex,
        },
    )
    with urllib.request.urlopen(order, timeout=10) as reply:
        # Envoy makes the id (a UUID carrying its sampling decision) and returns it.
        return str(reply.headers["x-request-id"])


def test_a_placed_order_reads_as_one_waterfall_from_the_edge_to_the_consumer(
    cluster: Cluster, page: Page
) -> None:
    request_id = _place_order(cluster)
    milestones = [
        "edge ingress",
        "order shop.order.v1.OrderService/PlaceOrder",
        "order INSERT",
        "order COMMIT;",
        "order publish order.events.v1.OrderPlaced",
        "user process order.events.v1.OrderPlaced",
    ]
    errors = ErrorLog(page)
    deadline = time.monotonic() + FLUSH
    while True:
        errors.errors.clear()  # a trace not flushed yet is a 404, which Chromium logs
        page.goto(cluster.console_url)
        page.get_by_label("Trace id or request id").fill(request_id)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        rows = page.locator("#waterfall tr.span")
        names = [
            f"{row.get_attribute('data-service')} {row.get_attribute('data-name')}"
            for row in rows.all()
        ]
        if all(milestone in names for milestone in milestones):  # each exporter has flushed
            break
        assert time.monotonic() < deadline, names
        time.sleep(1)
    cluster.shot(page, "trace")
    positions = [next(i for i, name in enumerate(names) if name == m) for m in milestones]
    assert positions == sorted(positions), names
    assert errors.errors == []


def _in_thread(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end: Playwright's sync API holds this thread's event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _as_operator(cluster: Cluster) -> NatsClient:
    """NATS takes mutual TLS only: the operator's certificate (it may do anything)."""
    operator = TlsFiles.of(cluster.run_dir / "certs", "operator")
    url = f"tls://127.0.0.1:{cluster.nats_port}"
    return await connect_nats(url, name="test", tls=operator, max_reconnect_attempts=3)


async def _park_a_poison_message(cluster: Cluster, marker: bytes) -> None:
    """Bytes that are no OrderPlaced: the user service's consumer parks them."""
    client = await _as_operator(cluster)
    try:
        headers = {
            "Nats-Msg-Id": uuid.uuid4().hex,
            "ce-id": uuid.uuid4().hex,
            "ce-type": "shop.order.events.v1.OrderPlaced",
            "schema-version": "1.0",
        }
        await client.jetstream().publish("order.events.v1.OrderPlaced", marker, headers=headers)
    finally:
        await client.close()


async def _last_on_subject(cluster: Cluster) -> tuple[bytes, dict[str, str]]:
    client = await _as_operator(cluster)
    try:
        message = await client.jetstream().get_last_msg(
            "ORDER_EVENTS", "order.events.v1.OrderPlaced"
        )
        return message.data or b"", dict(message.headers or {})
    finally:
        await client.close()


def test_a_dead_letter_is_replayed_after_a_confirmation(cluster: Cluster, page: Page) -> None:
    marker = b"\xff not a protobuf " + uuid.uuid4().hex.encode()
    _in_thread(_park_a_poison_message(cluster, marker))
    errors = ErrorLog(page)
    deadline = time.monotonic() + 20
    while True:
        page.goto(cluster.console_url + "dead-letters")
        rows = page.locator("#dead-letters tbody tr")
        if rows.count():
            break
        assert time.monotonic() < deadline, "no dead letter was listed"
        time.sleep(0.5)
    first = rows.first
    sequence = first.get_attribute("data-sequence")
    expect(first.locator(".reason")).not_to_be_empty()
    listed = cluster.cli("dlq", "list")
    # Every consumer of OrderPlaced parks its own copy (order counts, the read model).
    assert f"{sequence}  order.events.v1.OrderPlaced  consumer=" in listed
    cluster.shot(page, "dead-letters")

    first.get_by_role("button").press("Enter")  # by keyboard
    expect(page.get_by_role("heading", name=f"Replay dead letter {sequence}?")).to_be_visible()
    cluster.shot(page, "replay-confirmation")
    page.get_by_role("button", name="Yes, replay it").click()
    expect(page.locator("#replayed")).to_contain_text(f"Dead letter {sequence} replayed")
    expect(page.locator(f'#dead-letters tr[data-sequence="{sequence}"]')).to_have_count(0)

    data, headers = _in_thread(_last_on_subject(cluster))
    assert data == marker
    assert headers["Nats-Msg-Id"].startswith(f"replay:{sequence}:")
    assert not any(name.startswith("dlq-") for name in headers)
    assert errors.errors == []

    # Still poison: the consumer parks it again, and the shell can replay that one.
    deadline = time.monotonic() + 20
    while not (again := [x for x in cluster.cli("dlq", "list").split() if x.isdigit()]):
        assert time.monotonic() < deadline, "the replayed poison was not parked again"
        time.sleep(0.5)
    replayed = cluster.cli("dlq", "replay", again[0], "--yes")
    assert f"replayed {again[0]} to order.events.v1.OrderPlaced: published" in replayed


def _post(url: str, body: bytes, origin: str | None = None) -> int:
    request = urllib.request.Request(url, data=body, method="POST")
    if origin is not None:
        request.add_header("origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_a_replay_needs_the_confirmation_token_and_the_consoles_own_origin(
    cluster: Cluster,
) -> None:
    marker = b"\xff poison " + uuid.uuid4().hex.encode()
    _in_thread(_park_a_poison_message(cluster, marker))
    deadline = time.monotonic() + 20
    while not (parked := [x for x in cluster.cli("dlq", "list").split() if x.isdigit()]):
        assert time.monotonic() < deadline, "no dead letter was listed"
        time.sleep(0.5)
    action = f"{cluster.console_url}dead-letters/{parked[0]}/replay"
    assert _post(action, b"confirm=guessed") == 403
    assert _post(action, b"", origin="http://elsewhere.example") == 403
    assert _post(action, b"") == 200  # the confirmation page, nothing replayed yet
    assert parked[0] in cluster.cli("dlq", "list")


def test_a_killed_service_turns_red_within_seconds(cluster: Cluster, page: Page) -> None:
    errors = ErrorLog(page)
    page.goto(cluster.console_url)
    user = page.locator('svg.topology g.node[data-component="user"]')
    expect(user).to_have_attribute("data-tone", "healthy", timeout=15_000)
    with cluster.supervisor_paused():
        os.killpg(cluster.pids()["user"], signal.SIGKILL)
        killed = time.monotonic()
        expect(user).to_have_attribute("data-tone", "down", timeout=10_000)  # it refreshes itself
        print(f"user turned red {time.monotonic() - killed:.1f}s after SIGKILL")
        expect(page.locator('tr[data-component="user"] td').first).to_have_text("exited")
        cluster.shot(page, "killed-service")
    # The supervisor brings it back, and the page shows that too.
    expect(user).to_have_attribute("data-tone", "healthy", timeout=30_000)
    assert errors.errors == []


def test_the_page_says_when_the_console_itself_stops_answering(
    cluster: Cluster, page: Page
) -> None:
    page.goto(cluster.console_url)
    banner = page.locator("#offline")
    expect(banner).to_be_hidden()
    with cluster.supervisor_paused():
        os.killpg(cluster.pids()["console"], signal.SIGTERM)
        expect(banner).to_be_visible(timeout=10_000)
        expect(banner).to_contain_text("The console is not answering")
        cluster.shot(page, "console-gone")
