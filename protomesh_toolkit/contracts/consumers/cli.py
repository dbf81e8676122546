"""`protomesh consumer-check`: the static half of a provider's consumer contracts.

Builds the checkout's descriptor set and checks every contract under contracts/ that
names the provider (or every contract): each method, event type and relied-on field
must still exist with its number and type. Exit 1 with one line per broken reliance.
The live half replays the examples against the running provider in the provider's
tests (tests/contracts/providers/).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from protomesh.paths import ROOT
from protomesh_toolkit.codegen import build_descriptor_set
from protomesh_toolkit.contracts.consumers.model import CONTRACTS_DIR, ContractSet
from protomesh_toolkit.contracts.consumers.problems import Broken
from protomesh_toolkit.contracts.consumers.schema import ProviderSchema
from protomesh_toolkit.contracts.consumers.static import verify_static


def check(provider: str | None, workspace: Path = ROOT) -> tuple[int, list[Broken]]:
    """(how many contracts were checked, what broke)."""
    contracts = ContractSet.load(workspace / CONTRACTS_DIR.name).contracts
    chosen = [c for c in contracts if provider is None or c.provider == provider]
    with tempfile.TemporaryDirectory(prefix="protomesh-consumers-") as scratch:
        image = Path(scratch) / "current.binpb"
        build_descriptor_set(image, workspace)
        schema = ProviderSchema.from_file(image)
    return len(chosen), [
        broken for contract in chosen for broken in verify_static(contract, schema)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protomesh consumer-check", description=__doc__)
    parser.add_argument("--provider", help="only the contracts this service provides")
    args = parser.parse_args(argv)
    checked, broken = check(args.provider)
    for item in broken:
        print(item)
    print(f"consumer contracts: {checked} checked, {len(broken)} broken reliances")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
