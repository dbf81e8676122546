"""The benchmark's arithmetic and parsing: what its printed figures rest on."""

from __future__ import annotations

import asyncio

import pytest

from protomesh_toolkit.bench.load import Load, grpc_frame, parse_h2load, percentile
from protomesh_toolkit.bench.pyload import read_response

# As h2load 1.52 prints it (trimmed to the lines that matter).
SUMMARY = """\
finished in 4.00s, 3752.67 req/s, 1.21MB/s
requests: 11263 total, 11263 started, 11260 done, 11258 succeeded, 2 failed, 1 errored, 0 timeout
status codes: 11258 2xx, 0 3xx, 0 4xx, 2 5xx
"""


def test_nearest_rank_percentiles_are_values_that_were_measured() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0.5) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0  # no interpolation: 2.0 was seen


@pytest.mark.parametrize("p", [0, -1, 100.5])
def test_a_percentile_outside_0_to_100_is_refused(p: float) -> None:
    with pytest.raises(ValueError, match="not in"):
        percentile([1.0], p)


def test_no_values_have_no_percentile() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_h2load_counts_come_from_its_summary_and_latencies_from_its_log() -> None:
    log = "1764000000000000\t200\t4100\n1764000000000100\t503\t900\n1764000000000200\t200\t2500\n"
    measured = parse_h2load(SUMMARY, log, Load(16, 3.0, 1.0, 1000))
    assert measured.requests == 11258
    assert measured.failures == 3  # failed + errored + timeout
    assert measured.rate == pytest.approx(11258 / 3.0)
    assert measured.latencies == (0.0025, 0.0041)  # seconds, sorted, 200s only


def test_an_h2load_run_without_a_summary_is_an_error_not_zero() -> None:
    with pytest.raises(RuntimeError, match="no request counts"):
        parse_h2load("connect failed", "", Load(1, 1.0, 0.0, 1))


def test_a_grpc_request_body_is_the_message_framed_uncompressed() -> None:
    assert grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"
    assert grpc_frame(b"x" * 300)[:5] == b"\x00\x00\x00\x01\x2c"


async def _read(raw: bytes) -> tuple[tuple[int, bool], bytes]:
    reader = asyncio.StreamReader()
    reader.feed_data(raw + b"NEXT")
    reply = await read_response(reader)
    return reply, await reader.read(4)


async def test_the_python_client_reads_exactly_one_response_with_a_length() -> None:
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: x\r\n\r\nhello"
    assert await _read(raw) == ((200, True), b"NEXT")


async def test_the_python_client_reads_exactly_one_chunked_response() -> None:
    raw = (
        b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    )
    assert await _read(raw) == ((404, False), b"NEXT")
