"""A raw HTTP/2 client for gRPC calls no well-behaved client library would make.

grpcio refuses to send a malformed `grpc-timeout` or a reserved header, so
tests that must send one (to the edge, or straight to a service over mTLS)
speak HTTP/2 themselves with the `h2` state machine. One `RawConnection` is
one TCP (or TLS) connection: calls made on it share its HPACK state, as the
calls of many clients share one of Envoy's upstream connections.

    with RawConnection.open("127.0.0.1", port) as connection:
        reply = connection.call("/shop.user.v1.UserService/GetUser", frame(b"..."),
                                [("grpc-timeout", "x")])
        assert reply.grpc_status == 3
"""

from __future__ import annotations

import socket
import ssl
import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events

from protomesh.tls.files import TlsFiles

READ_SIZE = 65536


def frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: no compression flag, 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(message)) + message


@dataclass
class RawReply:
    headers: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False  # the stream was reset instead of answered

    @property
    def http_status(self) -> int:
        return int(self.headers.get(":status", "0"))

    @property
    def grpc_status(self) -> int | None:
        value = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class RawConnection:
    def __init__(self, sock: socket.socket, authority: str) -> None:
        self._sock = sock
        self._authority = authority
        self._h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=True, header_encoding="latin-1", validate_outbound_headers=False
            )
        )
        self._h2.initiate_connection()
        self._flush()

    @classmethod
    @contextmanager
    def open(
        cls,
        host: str,
        port: int,
        *,
        tls: TlsFiles | None = None,
        server_name: str = "user",
        timeout: float = 10.0,
    ) -> Iterator[RawConnection]:
        """Plaintext h2c, or mTLS with `tls`'s client certificate (ALPN h2)."""
        sock: socket.socket = socket.create_connection((host, port), timeout=timeout)
        try:
            if tls is not None:
                context = ssl.create_default_context(cafile=str(tls.ca))
                context.load_cert_chain(str(tls.cert), str(tls.key))
                context.set_alpn_protocols(["h2"])
                sock = context.wrap_socket(sock, server_hostname=server_name)
            connection = cls(sock, f"{host}:{port}")
            yield connection
        finally:
            sock.close()

    def call(
        self,
        path: str,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
        *,
        content_type: str = "application/grpc",
        timeout: float = 10.0,
    ) -> RawReply:
        """One request on a new stream; `headers` are sent as given, after the required ones."""
        stream = self._h2.get_next_available_stream_id()
        sent = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", self._authority),
            ("content-type", content_type),
            ("te", "trailers"),
            *headers,
        ]
        self._h2.send_headers(stream, sent, end_stream=not body)
        if body:
            self._h2.send_data(stream, body, end_stream=True)
        self._flush()
        return self._read(stream, timeout)

    def _read(self, stream: int, timeout: float) -> RawReply:
        reply = RawReply()
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(left)
            data = self._sock.recv(READ_SIZE)  # TimeoutError when nothing comes in time
            if not data:
                reply.reset = True
                return reply
            for event in self._h2.receive_data(data):
                if getattr(event, "stream_id", stream) != stream:
                    continue
                if isinstance(event, h2.events.ResponseReceived):
                    reply.headers = _decoded(event.headers)
                elif isinstance(event, h2.events.TrailersReceived):
                    reply.trailers = _decoded(event.headers)
                elif isinstance(event, h2.events.DataReceived):
                    reply.body += event.data
                    self._h2.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    reply.reset = True
                    return reply
                elif isinstance(event, h2.events.StreamEnded):
                    self._flush()
                    return reply
            self._flush()
        raise TimeoutError(f"no complete reply on stream {stream} within {timeout}s")

    def _flush(self) -> None:
        outbound = self._h2.data_to_send()
        if outbound:
            self._sock.sendall(outbound)


def _decoded(headers: Sequence[tuple[bytes | str, bytes | str]]) -> dict[str, str]:
    return {
        (k.decode("latin-1") if isinstance(k, bytes) else k): (
            v.decode("latin-1") if isinstance(v, bytes) else v
        )
        for k, v in headers
    }
