"""`python -m protomesh_toolkit.bench.strict_json`: what strict JSON costs a REST write.

One user service and one PostgreSQL, three Envoys in front of it rendered
from the project's mesh.yaml, differing only in `strict_json`:

  (a) off everywhere: no strict JSON filter at all (the edge as it was);
  (b) on, but off for the measured route: the filter runs and lets it through;
  (c) on: the filter reads and checks every body (the default).

The call is the v2 `PATCH /v2/users/{id}` with a nested body and a JWT,
the same row each time; then `GET /v2/users/{id}` through (a) and (c), as
(d) and (e): a read has no body to check, and the filter is skipped for it.
Rounds interleave them, in alternating order, so that drift on a shared
machine hits them alike; figures are medians, and a ratio is the median of
the rounds' own ratios. (c)/(a) is printed against the aim (>= 0.95: the
check costs at most 5% of REST throughput), never asserted. The write is
bound by PostgreSQL and shares two cores with everything else, so throughput
is noisy; Envoy's own CPU time per request
(from /proc, over Envoy's request counter) shows the filter's cost directly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protomesh.registry import LOCAL
from protomesh_toolkit.bench.edge import _runner, measurement_row, print_medians
from protomesh_toolkit.bench.load import Load, Measurement, Target
from protomesh_toolkit.cluster import envoy_admin as admin
from protomesh_toolkit.codegen import ensure_generated

if TYPE_CHECKING:
    from protomesh_toolkit.bench.stack import Stack

NO_FILTER, ROUTE_OFF, STRICT = "(a) no strict filter", "(b) filter, route off", "(c) strict"
GET_NO_FILTER, GET_STRICT = "(d) GET, no filter", "(e) GET, strict"
ROUTE = "shop.user.v2.UserService/UpdateUser"
AIM = 0.95
BODY = {"name": {"given_name": "Bench", "family_name": "Mark"}}


def _lenient_everywhere(document: dict[str, Any]) -> None:
    document["edge"].setdefault("defaults", {})["strict_json"] = False


def _lenient_route(document: dict[str, Any]) -> None:
    document["edge"]["routes"].setdefault(ROUTE, {})["strict_json"] = False


@dataclass(frozen=True)
class Variant:
    target: Target
    envoy_pid: int
    admin_port: int

    def envoy_cpu(self) -> tuple[float, int]:
        """Envoy's CPU seconds so far (all threads) and the requests it has taken."""
        fields = Path(f"/proc/{self.envoy_pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        served = admin.stats(self.admin_port, "http.edge.downstream_rq_total")
        return ticks / os.sysconf("SC_CLK_TCK"), sum(served.values())


VARIANTS: dict[str, Callable[[dict[str, Any]], None] | None] = {
    NO_FILTER: _lenient_everywhere,
    ROUTE_OFF: _lenient_route,
    STRICT: None,
}


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    ensure_generated()
    from protomesh_toolkit.bench.stack import running_stack

    runner, tool = _runner(options.tool)
    load = Load(options.connections, options.seconds, options.warmup, options.max_requests)
    print(
        f"PATCH /v2/users/{{id}} ({len(json.dumps(BODY))}-byte JSON body, JWT) through Envoy:"
        f" {options.connections} connections, {options.rounds} rounds of {options.seconds:g} s"
        f" after {options.warmup:g} s warm-up, load from {tool}",
        flush=True,
    )
    with (
        running_stack(pool_size=options.pool_size, access_log=False, envoy=False) as stack,
        contextlib.ExitStack() as cleanup,
    ):
        variants = [_variant(cleanup, stack, name, change) for name, change in VARIANTS.items()]
        variants += [
            _read(variants[0], GET_NO_FILTER, stack.user_id),
            _read(variants[2], GET_STRICT, stack.user_id),
        ]
        results: dict[str, list[Measurement]] = {v.target.name: [] for v in variants}
        cpu: dict[str, list[float]] = {v.target.name: [] for v in variants}
        for round_number in range(1, options.rounds + 1):
            for variant in variants if round_number % 2 else variants[::-1]:
                name = variant.target.name
                seconds, served = variant.envoy_cpu()
                measured = runner(variant.target, load)
                spent, done = (
                    after - before
                    for after, before in zip(variant.envoy_cpu(), (seconds, served), strict=True)
                )
                results[name].append(measured)
                cpu[name].append(spent / max(done, 1) * 1e6)
                print(
                    f"  round {round_number}: {name:<22} {measurement_row(measured)}"
                    f"   Envoy {cpu[name][-1]:4.0f} µs CPU/request",
                    flush=True,
                )
    _report(results, cpu)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m protomesh_toolkit.bench.strict_json", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time before it")
    parser.add_argument("--rounds", type=int, default=3, help="runs per target, interleaved")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--pool-size", type=int, default=8, help="the user service's pool")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="per-run bound (python load)"
    )
    parser.add_argument("--tool", choices=("auto", "h2load", "python"), default="auto")
    return parser


def _variant(
    cleanup: contextlib.ExitStack,
    stack: Stack,
    name: str,
    change: Callable[[dict[str, Any]], None] | None,
) -> Variant:
    """An Envoy of its own for one variant, checked to answer (and refuse) as it should."""
    from gateway.dev_issuer import DevIssuer
    from protomesh.registry import load_mesh
    from protomesh_toolkit.bench.edge_proxy import start_envoy

    user_id = stack.user_id
    directory = stack.directory / name.split(" ", 1)[0].strip("()")
    directory.mkdir()
    url = start_envoy(cleanup, directory, stack.grpc_address, user_id, change)
    edge = load_mesh(directory / "mesh.yaml").edge
    if edge is None or edge.jwt is None:
        raise RuntimeError("the bench measures a protected route: mesh.yaml needs edge.jwt")
    token = DevIssuer(directory / "jwt_issuer.pem").token(
        user_id, issuer=edge.jwt.issuer, audience=edge.jwt.audiences[0]
    )
    headers = (("content-type", "application/json"), ("authorization", f"Bearer {token}"))
    target = Target(
        name,
        f"{url}/v2/users/{user_id}",
        http_method="PATCH",
        body=json.dumps(BODY).encode(),
        headers=headers,
    )
    status, reply = _send(target, target.body or b"")
    if status != 200 or reply["user"]["name"] != BODY["name"]:
        raise RuntimeError(f"{name} answered {status}: {reply}")
    misspelt = json.dumps({"name": {**BODY["name"], "middle_nmae": "X"}}).encode()
    refused = _send(target, misspelt)[0] == 400
    if refused != (change is None):
        raise RuntimeError(f"{name}: a misspelt field was {'' if refused else 'not '}refused")
    return Variant(target, _envoy_pid(directory), edge.admin_ports[LOCAL])


def _read(writes: Variant, name: str, user_id: str) -> Variant:
    """A GET of the same row through the same Envoy."""
    url = writes.target.url.rsplit("/v2/", 1)[0] + f"/v2/users/{user_id}"
    return Variant(Target(name, url), writes.envoy_pid, writes.admin_port)


def _envoy_pid(directory: Path) -> int:
    """The Envoy whose config lies under `directory` (no other process names it): read,
    never signalled. Where under it `prepare_edge_files` puts the config is its business."""
    inside = f"{directory}/".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"--config-path" in argv and any(a.startswith(inside) for a in argv):
                return int(entry.name)
    raise RuntimeError(f"no Envoy process runs on a config under {directory}")


def _send(target: Target, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        target.url, body, dict(target.headers), method=target.http_method
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status), json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _report(results: dict[str, list[Measurement]], cpu: dict[str, list[float]]) -> None:
    print_medians(results)
    baselines = {ROUTE_OFF: NO_FILTER, STRICT: NO_FILTER, GET_STRICT: GET_NO_FILTER}
    print("\nEnvoy CPU per request, median over the rounds (against its baseline):")
    for name, runs in cpu.items():
        spent = statistics.median(runs)
        base = baselines.get(name)
        against = f"({spent - statistics.median(cpu[base]):+4.0f} µs)" if base else ""
        print(f"  {name:<22} {spent:6.0f} µs   {against}")
    print("\nthroughput ratios, median of each round's (reported, not asserted):")
    for name, base in baselines.items():
        pairs = zip(results[name], results[base], strict=True)
        ratio = statistics.median(m.rate / b.rate if b.rate else 0.0 for m, b in pairs)
        verdict = f"   aim >= {AIM:.2f}: {'meets' if ratio >= AIM else 'below'}"
        print(f"  {name} / {base}: {ratio:5.2f}{verdict if name == STRICT else ''}")


if __name__ == "__main__":
    sys.exit(main())
