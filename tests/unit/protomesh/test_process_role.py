"""The pieces of running a replica as several server processes, without starting one."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from protomesh.process_family import claim_port
from protomesh.process_role import (
    ProcessRole,
    current_role,
    process_count,
)
from protomesh.process_role import _usable_cores as usable_cores


@pytest.mark.parametrize(("value", "cores", "count"), [("1", 8, 1), ("3", 8, 3), ("auto", 2, 2)])
def test_a_count_is_a_number_or_one_per_core(value: str, cores: int, count: int) -> None:
    assert process_count(value, cores=cores) == count


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_a_bad_count_says_what_is_expected(value: str) -> None:
    with pytest.raises(ValueError, match="is not a whole number >= 1 or auto"):
        process_count(value)


@pytest.mark.parametrize(
    ("cpu_max", "cores"), [("max 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1)]
)
def test_auto_honours_a_cgroup_cpu_quota(tmp_path: Path, cpu_max: str, cores: int) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)
    assert usable_cores(tmp_path / "cpu.max") == min(cores, usable_cores(tmp_path / "none"))


def test_a_process_alone_shares_no_port_and_runs_the_background_work() -> None:
    alone = current_role({})
    assert alone == ProcessRole()
    assert (alone.shares_port, alone.runs_background_work) == (False, True)


def test_the_role_a_parent_hands_down_round_trips() -> None:
    second = ProcessRole(1, 2, 4242)
    assert current_role(second.environment()) == second
    assert (second.shares_port, second.runs_background_work) == (True, False)


def test_the_claimed_port_admits_shared_listeners_but_no_plain_bind() -> None:
    guard = claim_port("127.0.0.1", 0)
    port = guard.getsockname()[1]
    try:
        with socket.socket() as sibling:  # a server process: SO_REUSEPORT, as grpc binds it
            sibling.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sibling.bind(("127.0.0.1", port))
            sibling.listen()
            with socket.socket() as intruder, pytest.raises(OSError, match="in use"):
                intruder.bind(("127.0.0.1", port))
            with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
                claim_port("127.0.0.1", port)  # a second replica's parent
    finally:
        guard.close()
