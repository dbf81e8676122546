"""The contracts in this checkout do not break the ones they are based on."""

from __future__ import annotations

import pytest

from protomesh.paths import ROOT
from protomesh_toolkit.contracts.check import check_contracts


@pytest.mark.integration
def test_the_current_contracts_keep_the_published_ones() -> None:
    verdict = check_contracts(None, ROOT)
    if not verdict.compared:
        pytest.skip(f"no base to compare against: {verdict.against}")
    assert verdict.passed, verdict.report()
