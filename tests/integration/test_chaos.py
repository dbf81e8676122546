"""kill -9 of each part of the running mesh under load: nothing acknowledged is lost, no
key takes effect twice, events are delivered once, and failures are retryable.

`make test` runs a bounded slice (a few seconds of load around each kill);
`make chaos` runs it longer (PROTOMESH_CHAOS_SECONDS per part) and prints the table.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import chaos
from tests.support.mesh_cluster import MeshCluster, mesh_cluster

pytestmark = pytest.mark.integration

SECONDS_PER_PART = float(os.environ.get("PROTOMESH_CHAOS_SECONDS", "4"))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[MeshCluster]:
    with mesh_cluster(tmp_path) as cluster:
        cluster.cli("up", timeout=180)
        yield cluster


def test_killing_each_part_under_load_loses_and_duplicates_nothing(
    cluster: MeshCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    report = chaos.run(cluster, seconds_per_part=SECONDS_PER_PART)
    with capsys.disabled():
        print("\n" + report.table())

    assert report.acked > 0
    assert report.lost == []
    assert report.duplicated == []
    assert report.event_problems == []
    assert report.bad_answers == []
    assert report.too_slow == []
    assert all(r.serving_after is not None for r in report.recoveries), report.table()
