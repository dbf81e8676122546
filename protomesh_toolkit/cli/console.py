"""`protomesh console` and `protomesh dlq list|replay`: the mesh console, and dead letters
from the shell."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Any

from protomesh.registry import load_mesh
from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.console import NAME as CONSOLE
from protomesh_toolkit.cluster.console import ConsoleProcess, probe_console
from protomesh_toolkit.cluster.nats import NatsProcess
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.console.dead_letters import (
    DeadLetterError,
    dead_letter,
    list_dead_letters,
    operator_tls,
    replay,
)
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout


def _console(args: argparse.Namespace, layout: Layout) -> int:
    record = state.load(layout).get(CONSOLE)
    if record is None or not record.is_running():
        planned = components(load_mesh(layout.mesh_file), layout).get(CONSOLE)
        if not isinstance(planned, ConsoleProcess):
            raise ClusterError("mesh.yaml has no telemetry.console_port.local: no console to open")
        raise ClusterError(f"the console is not running; `protomesh up` starts it ({planned.url})")
    url = f"http://127.0.0.1:{record.port}/"
    health = probe_console(record.port)
    print(url if health.healthy else f"{url}  (not answering: {health.detail})")
    if args.open and not webbrowser.open(url):
        print("no browser to open it with here; the URL above works in any", file=sys.stderr)
    return 0 if health.healthy else 1


def _nats_url(layout: Layout) -> str:
    for part in components(load_mesh(layout.mesh_file), layout).values():
        if isinstance(part, NatsProcess):
            return part.url
    raise ClusterError("mesh.yaml has no NATS, so no dead letters")


def _dlq(args: argparse.Namespace, layout: Layout) -> int:
    url = _nats_url(layout)
    try:
        if args.action == "list":
            letters = list_dead_letters(url, args.limit, operator_tls(layout))
            if not letters:
                print("no dead letters")
            for letter in letters:
                print(
                    f"{letter.sequence:>6}  {letter.subject}  consumer={letter.consumer}  "
                    f"deliveries={letter.deliveries}  reason: {letter.reason}"
                )
            return 0
        if args.sequence is None:
            raise ClusterError("say which dead letter: `protomesh dlq replay SEQUENCE`")
        parked = dead_letter(url, args.sequence, operator_tls(layout))
        if not args.yes:
            print(f"dead letter {parked.sequence}: {parked.subject}, parked by {parked.consumer}")
            print(f"  reason: {parked.reason}")
            if not sys.stdin.isatty() or input("replay it to its subject? [y/N] ") != "y":
                print("not replayed (--yes skips this question)")
                return 1
        outcome = replay(url, args.sequence, operator_tls(layout))
    except DeadLetterError as error:
        raise ClusterError(str(error)) from None
    what = "already there (repeated replay)" if outcome.duplicate else "published"
    print(
        f"replayed {args.sequence} to {outcome.letter.subject}: {what} on "
        f"{outcome.stream} at sequence {outcome.stream_sequence}"
    )
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    console = commands.add_parser(
        "console",
        help="print (or --open) the URL of the mesh console page",
        description="The console shows the running mesh: topology and health, RPC rates and "
        "latencies, traces, outbox and consumer lag, dead letters. `protomesh up` starts it.",
    )
    console.add_argument("--open", action="store_true", help="also open it in a browser")
    console.set_defaults(run=_console)

    dlq = commands.add_parser(
        "dlq",
        help="list the dead letters, or replay one to its original subject",
        description="Replay publishes the parked message again to its original subject with "
        "its original headers and a new Nats-Msg-Id (replay:SEQ:ORIGINAL), then removes it "
        "from DEAD_LETTERS. Consumers deduplicate by the event id, which is kept.",
    )
    dlq.add_argument("action", choices=("list", "replay"))
    dlq.add_argument("sequence", nargs="?", type=int, help="the dead letter's number (replay)")
    dlq.add_argument("-n", "--limit", type=int, default=50, help="how many to list (default 50)")
    dlq.add_argument("--yes", action="store_true", help="replay without asking")
    dlq.set_defaults(run=_dlq)
