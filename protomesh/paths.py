"""Where things live in a checkout. One place, so no module guesses paths."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
THIRD_PARTY_DIR = ROOT / "third_party"
GEN_DIR = ROOT / "gen"
ENVOY_DIR = ROOT / "envoy"
DESCRIPTOR_SET = ENVOY_DIR / "protomesh.binpb"
RUN_DIR = ROOT / ".run"
