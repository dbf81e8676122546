"""The strict JSON scanner (gateway/strict_json.lua) in the real Envoy's LuaJIT, on its own.

What the project's contracts cannot show through the full edge: map fields,
well-known types, recursion, a `body` that names one field, the depth limit
and the cap on reported fields. Envoy runs the filter rendered from a small
hand-built contract (tests/support/synthetic_contracts.py) in front of a
direct response, so a request either passes (200 "passed") or is refused.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.strict_json import lua_filter
from gateway.strict_json_schema import strict_schema
from protomesh_toolkit.cluster import envoy_admin as admin
from tests.support.ports import free_port
from tests.support.synthetic_contracts import GARDENS, synthetic

pytestmark = pytest.mark.integration

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
    ".HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TREES = "/v1/gardens/g1/trees"  # body: "tree", so every path starts with tree.


def _socket(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("scanner")
    listen, admin_port = free_port(), free_port()
    strict = lua_filter(strict_schema(synthetic(), [(GARDENS, "Plant", True)]))
    assert strict is not None
    passed = {"status": 200, "body": {"inline_string": "passed"}}
    manager = {
        "@type": HCM,
        "stat_prefix": "scanner",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": passed}],
                }
            ]
        },
        "http_filters": [
            strict,
            {"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}},
        ],
    }
    listener = {
        "name": "scanner",
        "address": _socket(listen),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }
    config = {
        "admin": {"address": _socket(admin_port)},
        "static_resources": {"listeners": [listener]},
    }
    config_file = directory / "envoy.yaml"
    config_file.write_text(yaml.safe_dump(config))
    with _envoy(config_file, directory / "envoy.log", admin_port):
        yield listen


@contextlib.contextmanager
def _envoy(config_file: Path, log_file: Path, admin_port: int) -> Iterator[None]:
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            admin.envoy_command(config_file),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log_file.read_text()[-3000:]
            with contextlib.suppress(OSError):
                if admin.readiness(admin_port) == "LIVE":
                    break
            assert time.monotonic() < deadline, "envoy not LIVE after 20 s"
            time.sleep(0.05)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)


def send(
    port: int, body: bytes | str, *, method: str = "POST", path: str = TREES
) -> tuple[int, bytes]:
    data = body.encode() if isinstance(body, str) else body
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=data, headers={"content-type": "application/json"})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def grpc_status(port: int, body: str) -> str | None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", TREES, body=body, headers={"content-type": "application/grpc"})
        reply = connection.getresponse()
        reply.read()
        return reply.getheader("grpc-status")
    finally:
        connection.close()


def refused(port: int, body: bytes | str, **options: Any) -> list[str]:
    status, reply = send(port, body, **options)
    assert status == 400, reply
    document = json.loads(reply)
    return [v["field"] for v in document["details"][0]["field_violations"]]


def passes(port: int, body: bytes | str, **options: Any) -> bool:
    return send(port, body, **options) == (200, b"passed")


def test_recursion_and_arrays_are_followed_to_any_depth(port: int) -> None:
    body = {"label": "oak", "children": [{"label": "a"}, {"children": [{"lable": "b"}]}]}
    assert refused(port, json.dumps(body)) == ["tree.children[1].children[0].lable"]


def test_map_values_are_checked_under_any_key(port: int) -> None:
    body = {"by_name": {"oak": {"label": "a"}, "elm": {"colour": 1}}, "byName": {}}
    assert refused(port, json.dumps(body)) == ['tree.by_name["elm"].colour']
    assert passes(port, json.dumps({"tags": {"any": "x", "key": "y"}}))


def test_struct_and_timestamp_take_anything(port: int) -> None:
    extra = {"whatever": {"deep": [1, {"x": None}], "n": -1.5e3}}
    assert passes(port, json.dumps({"extra": extra, "planted": "2026-01-01T00:00:00Z"}))


def test_a_star_body_starts_paths_at_the_request(port: int) -> None:
    body = {"garden": "g1", "tree": {"labl": "oak"}}
    assert refused(port, json.dumps(body), method="PUT", path="/v1/gardens/g1/tree") == [
        "tree.labl"
    ]


def test_twenty_fields_are_named_and_all_are_counted(port: int) -> None:
    status, reply = send(port, json.dumps({f"bogus{n}": n for n in range(25)}))
    document = json.loads(reply)
    assert status == 400
    assert len(document["details"][0]["field_violations"]) == 20
    assert document["message"].startswith("25 unknown fields in the JSON body: tree.bogus0,")


def test_keys_are_escaped_in_the_refusal(port: int) -> None:
    assert refused(port, '{"a\\"b\\\\c\\n": 1}') == ['tree.a"b\\c\n']


@pytest.mark.parametrize(
    "body",
    [
        '{"bogus": 1,',  # does not parse: the transcoder's to refuse
        '{"bogus": 1} {}',
        "",
        '{"extra": ' + "[" * 150 + "]" * 150 + ', "bogus": 1}',  # deeper than protobuf parses
    ],
)
def test_what_the_scanner_cannot_read_it_lets_through(port: int, body: str) -> None:
    assert passes(port, body)


def test_unchecked_verbs_and_grpc_calls_skip_the_filter(port: int) -> None:
    assert passes(port, '{"bogus": 1}', method="GET")
    # Envoy answers a gRPC caller in gRPC (its direct response here is UNKNOWN, 2,
    # whatever the body): an unknown field must change nothing.
    assert grpc_status(port, '{"bogus": 1}') == grpc_status(port, '{"label": "oak"}')
    assert passes(port, '{"bogus": 1}', path="/v1/gardens/g1/trees/extra")
