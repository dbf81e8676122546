"""`protomesh traces [ID]`: what the local OTLP receiver stored, as a list or a tree."""

from __future__ import annotations

import argparse
from typing import Any

from protomesh_toolkit.cluster import state
from protomesh_toolkit.cluster.receiver import NAME as RECEIVER
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown
from protomesh_toolkit.traces import view as trace_view


def _traces(args: argparse.Namespace, layout: Layout) -> int:
    spans = trace_view.read_spans(layout.traces_file)
    if not layout.traces_file.exists() and RECEIVER not in state.load(layout):
        raise ClusterError(
            f"no spans at {shown(layout.traces_file)}: start the cluster with `protomesh up --otlp`"
        )
    if args.trace_id is None:
        print(trace_view.render_list(spans, args.limit))
        return 0
    try:
        print(trace_view.render_tree(spans, args.trace_id))
    except KeyError:
        raise ClusterError(f"no trace {args.trace_id} in {shown(layout.traces_file)}") from None
    return 0


def register(commands: argparse._SubParsersAction[Any]) -> None:
    traces = commands.add_parser(
        "traces",
        help="list the recent traces, or print one as a tree (needs `up --otlp`)",
        description="Read the spans the local OTLP receiver stored. Without a trace id, list "
        "the latest traces, newest first; with one, print its spans, each under its parent.",
    )
    traces.add_argument("trace_id", nargs="?", help="32 hex digits (Envoy logs it as trace_id)")
    traces.add_argument("-n", "--limit", type=int, default=20, help="traces to list (default 20)")
    traces.set_defaults(run=_traces)
