"""How many cases a fuzz run makes, and what it found.

The suite runs a bounded slice; `make fuzz N=10000` (python -m tests.fuzz)
sets PROTOMESH_FUZZ_CASES to run each fuzzer for N cases instead.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, settings

CASES_VARIABLE = "PROTOMESH_FUZZ_CASES"
SUITE_CASES = 240  # per fuzzer: a few hundred calls, well under a minute each
SHOWN = 12  # distinct findings printed in a failure


def total_cases() -> int:
    return int(os.environ.get(CASES_VARIABLE, SUITE_CASES))


def share(total: int, parts: int) -> int:
    """Cases for one of `parts` targets (at least one each)."""
    return max(1, -(-total // max(parts, 1)))


def fuzz_settings(cases: int) -> settings:
    """No shrinking, no example database: every case is recorded, none replayed."""
    return settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Findings:
    """Every case's outcome; findings deduplicated by what went wrong where."""

    name: str
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    found: dict[str, str] = field(default_factory=dict)  # kind -> first example
    counts: Counter[str] = field(default_factory=Counter)
    notes: dict[str, str] = field(default_factory=dict)  # allowed, but worth a look: kind -> first

    def record(self, outcome: str) -> None:
        self.cases += 1
        self.outcomes[outcome] += 1

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        self.found.setdefault(kind, example)

    def note(self, kind: str, example: str) -> None:
        self.notes.setdefault(kind, example)

    def summary(self) -> str:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        found = sum(self.counts.values())
        lines = [f"{self.name}: {self.cases} cases, {found} findings ({outcomes})"]
        lines += [f"  note: {kind}: {example[:400]}" for kind, example in self.notes.items()]
        return "\n".join(lines)

    def report(self) -> str:
        lines = [self.summary()]
        for kind, example in list(self.found.items())[:SHOWN]:
            lines.append(f"- {kind} (x{self.counts[kind]}):\n    {example[:1500]}")
        return "\n".join(lines)
