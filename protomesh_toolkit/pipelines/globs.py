"""Path filters as GitHub Actions reads them (`**` any depth, `*` within one segment),
matched here the same way, and a set of files written as few filters as possible."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import PurePosixPath


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    parts = []
    index = 0
    while index < len(glob):
        if glob.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif glob.startswith("**", index):
            parts.append(".*")
            index += 2
        elif glob[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif glob[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(glob[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def matches(glob: str, path: str) -> bool:
    return _pattern(glob).match(path) is not None


def matches_any(globs: Iterable[str], path: str) -> bool:
    return any(matches(glob, path) for glob in globs)


def compact(files: set[str], universe: Iterable[str], keep: Iterable[str] = ()) -> list[str]:
    """`keep` as given, then `files` (minus what `keep` covers): a folder every file of which
    is in `files` becomes `folder/**`, the rest stay file by file."""
    kept = list(keep)
    universe = [path for path in universe if not matches_any(kept, path)]
    wanted = {path for path in files if not matches_any(kept, path)}
    folders: dict[str, list[str]] = {}
    for path in universe:
        for parent in PurePosixPath(path).parents:
            if str(parent) != ".":
                folders.setdefault(str(parent), []).append(path)
    full = {
        folder
        for folder, inside in folders.items()
        if all(path in wanted for path in inside) and any(path in wanted for path in inside)
    }
    # Only the outermost full folders: `protomesh/**` makes `protomesh/bus/**` redundant.
    outermost = sorted(
        folder
        for folder in full
        if not any(str(parent) in full for parent in PurePosixPath(folder).parents)
    )
    covered = [f"{folder}/**" for folder in outermost]
    singles = sorted(path for path in wanted if not matches_any(covered, path))
    return [*kept, *covered, *singles]
