"""Malformed requests, made from the contracts: every RPC, every REST route, seeded.

A case is one request at one door: REST through the edge (HTTP/1.1), gRPC
through the edge (h2c) or gRPC straight to the service over mTLS. Each mixes
a few of: transport headers gRPC parses itself, other odd headers, a broken
path parameter or query, a JSON body with the wrong shapes, and protobuf
bytes that are valid, mutated or not protobuf at all.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from google.api import annotations_pb2
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from shop.order.v1 import order_pb2
from shop.user.v1 import user_pb2 as user_v1
from shop.user.v2 import user_pb2 as user_v2

from tests.support.raw_h2 import frame

REST, EDGE_GRPC, DIRECT_GRPC = "rest", "edge-grpc", "direct-grpc"
SERVICE_OF_PACKAGE = {"shop.user": "user", "shop.order": "order"}
FILES = (user_v1.DESCRIPTOR, user_v2.DESCRIPTOR, order_pb2.DESCRIPTOR)

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Case:
    door: str
    method: str  # the HTTP method (POST for gRPC)
    path: str  # a REST path and query, or /pkg.Service/Method
    headers: Headers
    body: bytes
    content_type: str
    service: str  # who answers: user or order

    @property
    def sends_deadline(self) -> bool:
        return any(name == "grpc-timeout" for name, _ in self.headers)

    def describe(self) -> str:
        body = self.body[:80]
        return f"{self.door} {self.method} {self.path[:120]} headers={self.headers!r} body={body!r}"


@dataclass(frozen=True)
class Rpc:
    path: str  # /shop.user.v1.UserService/GetUser
    service: str
    request: type[Message]
    verb: str  # the REST binding
    template: str  # /v1/users/{user_id}
    has_body: bool


def rpcs() -> list[Rpc]:
    found = []
    for file in FILES:
        for service in file.services_by_name.values():
            owner = SERVICE_OF_PACKAGE[file.package.rsplit(".", 1)[0]]
            for method in service.methods:
                found.append(_rpc(method, owner))
    return found


def _rpc(method: MethodDescriptor, owner: str) -> Rpc:
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern") or "post"
    return Rpc(
        path=f"/{method.containing_service.full_name}/{method.name}",
        service=owner,
        request=message_factory.GetMessageClass(method.input_type),
        verb=verb.upper(),
        template=getattr(rule, verb),
        has_body=bool(rule.body),
    )


class CaseMaker:
    """Makes cases from one seed; `token` signs some REST and gRPC calls in as `customer`."""

    def __init__(self, seed: int, customer: str, token: str) -> None:
        self.rng = random.Random(seed)
        self.customer = customer
        self.token = token
        self.rpcs = rpcs()

    def make(self) -> Case:
        door = self.rng.choice((REST, REST, EDGE_GRPC, DIRECT_GRPC))
        rpc = self.rng.choice(self.rpcs)
        headers = self._headers(door)
        if door == REST:
            return self._rest(rpc, headers)
        content_type = self.rng.choice(
            ["application/grpc"] * 6 + ["application/grpc+proto", "application/grpc+json"]
        )
        return Case(
            door, "POST", rpc.path, headers, self._grpc_body(rpc), content_type, rpc.service
        )

    # -- REST ---------------------------------------------------------------------

    def _rest(self, rpc: Rpc, headers: Headers) -> Case:
        path = re.sub(r"\{[a-z_.]+\}", lambda _: self._path_value(), rpc.template)
        if self.rng.random() < 0.4:
            path += "?" + self._query()
        method = rpc.verb if self.rng.random() < 0.9 else self.rng.choice(["PUT", "DELETE"])
        body = self._json_body(rpc) if rpc.has_body or self.rng.random() < 0.1 else b""
        content_type = self.rng.choice(
            ["application/json"] * 8
            + ["text/plain", "application/grpc-web", "application/json; charset=latin-1"]
        )
        return Case(REST, method, path, headers, body, content_type, rpc.service)

    def _path_value(self) -> str:
        rng = self.rng
        choices: list[Callable[[], str]] = [
            lambda: self.customer,
            lambda: quote(bytes(rng.randrange(256) for _ in range(rng.randint(1, 6))), safe=""),
            lambda: "%ff%fe",
            lambda: "%c3%28",  # a broken two-byte sequence
            lambda: "%ed%a0%80",  # a UTF-16 surrogate, as UTF-8
            lambda: "%00",
            lambda: "a" * rng.choice([256, 2000]),
            lambda: quote("ünïcödé ☃", safe=""),
            lambda: "..%2F..%2Fetc",
            lambda: "",
        ]
        return rng.choice(choices)()

    def _query(self) -> str:
        rng = self.rng
        names = ["page_size", "page_token", "status", "filter", "page_size", "zzz", "%ff"]
        values = [
            "-1",
            "0",
            "1",
            "99999999999999999999",
            "abc",
            "1.5",
            "%ff%fe",
            "",
            "ORDER_STATUS_X",
        ]
        pairs = [f"{rng.choice(names)}={rng.choice(values)}" for _ in range(rng.randint(1, 3))]
        return "&".join(pairs)

    def _json_body(self, rpc: Rpc) -> bytes:
        document: Any = json_format.MessageToDict(
            self._message(_descriptor(rpc.request)), preserving_proto_field_name=True
        )
        mutation = self.rng.randrange(9)
        if mutation == 0:
            return json.dumps(document).encode()[: self.rng.randint(0, 40)]  # cut short
        if mutation == 1:
            return b'{"email": "\xff\xfe", "display_name": "\xc3\x28"}'  # raw bad UTF-8
        if mutation == 2:
            return b'{"display_name": "\\ud800", "email": "a\\u0000b@x.io"}'  # lone surrogate, NUL
        if mutation == 3:
            return json.dumps(self._wrong_types(document)).encode()
        if mutation == 4:
            return ("[" * 300 + "]" * 300).encode()  # deep nesting
        if mutation == 5:
            return json.dumps({"unknown": 1, **document, "page_size": 2**70}).encode()
        if mutation == 6:
            return self.rng.randbytes(self.rng.randint(0, 64))
        return json.dumps(document).encode()

    def _wrong_types(self, document: dict[str, Any]) -> dict[str, Any]:
        odd: list[Any] = [None, 1, -1, 2**64, 1.5, "x", [], {}, [1, "a"], {"a": {"b": None}}, True]
        return {key: self.rng.choice(odd) for key in document} or {"user_id": 5}

    # -- gRPC ---------------------------------------------------------------------

    def _grpc_body(self, rpc: Rpc) -> bytes:
        message = self._message(_descriptor(rpc.request)).SerializeToString()
        rng = self.rng
        mutation = rng.randrange(8)
        if mutation == 0:
            return frame(_flip(message, rng))
        if mutation == 1:
            return frame(message[: rng.randint(0, max(len(message) - 1, 0))])
        if mutation == 2:
            return frame(rng.randbytes(rng.randint(0, 48)))
        if mutation == 3:  # a string field's bytes made invalid UTF-8
            return frame(b"\x0a\x03\xff\xfe\xfd" + message)
        if mutation == 4:  # a frame whose length says more than it holds
            return b"\x00\x00\x00\x10\x00" + message[:3]
        if mutation == 5:  # "compressed", with nothing compressed in it
            return b"\x01" + frame(message)[1:]
        if mutation == 6:
            return rng.randbytes(rng.randint(0, 6))  # not even a frame
        return frame(message)

    def _message(self, descriptor: Descriptor, depth: int = 0) -> Message:
        message = message_factory.GetMessageClass(descriptor)()
        for field in descriptor.fields:
            if self.rng.random() < 0.3:
                continue
            repeated = field.is_repeated
            for _ in range(self.rng.randint(1, 2) if repeated else 1):
                self._set(message, field, depth, repeated)
        return message

    def _set(self, message: Message, field: FieldDescriptor, depth: int, repeated: bool) -> None:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 2 or field.message_type is None or field.message_type.GetOptions().map_entry:
                return
            value = self._message(field.message_type, depth + 1)
            target = getattr(message, field.name)
            (target.add() if repeated else target).CopyFrom(value)
            return
        value = self._scalar(field)
        if repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)

    def _scalar(self, field: FieldDescriptor) -> Any:
        rng = self.rng
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return rng.choice(
                [self.customer, "", "x" * rng.randint(1, 300), "ünï ☃", "a@b.io", "EUR", "LAMP"]
            )
        if kind == FieldDescriptor.TYPE_BYTES:
            return rng.randbytes(rng.randint(0, 16))
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == FieldDescriptor.TYPE_ENUM:
            numbers = [v.number for v in field.enum_type.values] if field.enum_type else []
            return rng.choice([*numbers, 99])
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return rng.choice([0.0, -1.5, 1e308])
        unsigned = kind in (
            FieldDescriptor.TYPE_UINT32,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_FIXED32,
            FieldDescriptor.TYPE_FIXED64,
        )
        wide = kind in (
            FieldDescriptor.TYPE_INT64,
            FieldDescriptor.TYPE_UINT64,
            FieldDescriptor.TYPE_SINT64,
            FieldDescriptor.TYPE_FIXED64,
            FieldDescriptor.TYPE_SFIXED64,
        )
        top = 2**63 - 1 if wide else 2**31 - 1
        return rng.choice([0, 1, 7, top] + ([] if unsigned else [-1, -top]))

    # -- headers --------------------------------------------------------------------

    def _headers(self, door: str) -> Headers:
        rng = self.rng
        chosen: list[tuple[str, str]] = []
        if rng.random() < 0.3:
            chosen.append(("authorization", f"Bearer {self.token}"))
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            name = rng.choice(HEADER_NAMES)
            chosen.append((name, self._header_value(name)))
        if door != REST:  # HTTP/2 forbids connection-specific headers; h2 clients never send them
            chosen = [(n, v) for n, v in chosen if n not in ("te", "connection", "keep-alive")]
        return tuple(chosen)

    def _header_value(self, name: str) -> str:
        rng = self.rng
        if name == "grpc-timeout":
            return rng.choice(TIMEOUTS)
        if name == "grpc-encoding":
            return rng.choice(["gzip", "identity", "deflate", "br", "", "GZIP", "x" * 200])
        if name.endswith("-bin"):
            return rng.choice(["AAAA", "AAA", "A", "!!!", "AA==", "A===", "QUJD", "QU=JD", ""])
        if name == "content-length":
            # Malformed ones: a well-formed length the body does not match keeps the edge
            # waiting for the rest (the client's own stream), which only slows the run.
            return rng.choice(["0", "-1", "abc", "0x10", "1,2"])
        alphabet = string.printable + "\xe9\xff\x7f\x00"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))


def _descriptor(message: type[Message]) -> Descriptor:
    descriptor: Any = message.DESCRIPTOR  # the upb and pure-Python descriptor types are one
    return descriptor  # type: ignore[no-any-return]


def _flip(data: bytes, rng: random.Random) -> bytes:
    """One byte of the message changed at random."""
    if not data:
        return b"\xff"
    at = rng.randrange(len(data))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]


TIMEOUTS = [
    *("1S", "500m", "0n", "1n", "99999999H", "00000001u"),  # valid
    *("123456789S", "5s", "x", "", " 1S", "1 S", "-1S", "1.5S", "1SS", "S"),  # not
]
HEADER_NAMES = [
    "grpc-timeout",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "grpc-previous-rpc-attempts",
    "grpc-retry-pushback-ms",
    "grpc-trace-bin",
    "grpc-tags-bin",
    "x-custom-bin",
    "te",
    "idempotency-key",
    "x-request-id",
    "x-api-key",
    "x-jwt-sub",
    "traceparent",
    "user-agent",
    "lb-token",
    "x-envoy-original-method",
    "x-envoy-expected-rq-timeout-ms",
    "content-length",
]
