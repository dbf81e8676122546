"""`protomesh logs`: one component's log, or every log with its name in front; `-f` follows.

Logs are plain files under <run dir>/logs, appended to across restarts, so
they can be read (and followed) whether or not the cluster is running.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

from protomesh.logs import readable
from protomesh_toolkit.errors import ClusterError
from protomesh_toolkit.layout import Layout, shown

FOLLOW_INTERVAL = 0.25


class _LogFile:
    """Reads what was appended since the last read, whole lines only."""

    def __init__(
        self, name: str, path: Path, prefix: str, shape: Callable[[str], str] = str
    ) -> None:
        self.name = name
        self.path = path
        self.prefix = prefix
        self.shape = shape
        self.offset = 0
        self.partial = b""

    def new_lines(self) -> list[str]:
        try:
            with self.path.open("rb") as file:
                if file.seek(0, 2) < self.offset:  # truncated or recreated: start over
                    self.offset, self.partial = 0, b""
                file.seek(self.offset)
                chunk = file.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        return [self.prefix + self.shape(line.decode(errors="replace")) for line in complete]


def show(
    layout: Layout,
    known: Iterable[str],
    name: str | None,
    *,
    follow: bool,
    tail: int | None,
    pretty: bool = False,
    out: TextIO = sys.stdout,
) -> None:
    """Print `name`'s log (or all of them, prefixed), then, with `follow`, what gets appended.

    With `pretty`, JSON log lines are shown as text (`protomesh.logs.readable`).
    """
    files = _files(layout, known)
    if name is not None:
        if name not in files:
            choices = ", ".join(files) or "none yet"
            raise ClusterError(f"no log for {name!r} in {shown(layout.logs_dir)} (logs: {choices})")
        files = {name: files[name]}
    if not files:
        raise ClusterError(f"no logs yet in {shown(layout.logs_dir)}; start with `protomesh up`")
    width = max(len(each) for each in files)
    readers = [
        _LogFile(
            each,
            path,
            f"{each:<{width}} | " if len(files) > 1 else "",
            readable if pretty else str,
        )
        for each, path in files.items()
    ]
    for reader in readers:
        lines = reader.new_lines()
        _print(lines if tail is None else lines[max(0, len(lines) - tail) :], out)
    while follow:
        time.sleep(FOLLOW_INTERVAL)
        for reader in readers:
            _print(reader.new_lines(), out)


def _files(layout: Layout, known: Iterable[str]) -> dict[str, Path]:
    """Log files by component: the mesh's order first, then any others found on disk."""
    found = {path.stem: path for path in sorted(layout.logs_dir.glob("*.log"))}
    ordered = {name: found[name] for name in known if name in found}
    return ordered | found


def _print(lines: list[str], out: TextIO) -> None:
    if lines:
        out.write("\n".join(lines) + "\n")
        out.flush()
