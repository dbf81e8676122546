"""Throwaway git repositories, so base resolution is tested on real histories."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Tests must not depend on (or be signed with) whoever runs them.
IDENTITY = ("-c", "user.name=Contract Test", "-c", "user.email=test@protomesh.invalid")
UNSIGNED = ("-c", "commit.gpgsign=false")


@dataclass(frozen=True)
class GitRepo:
    path: Path

    @classmethod
    def init(cls, path: Path) -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo.git("init", "--quiet", "--initial-branch=main")
        return repo

    @classmethod
    def shallow_clone(cls, origin: GitRepo, path: Path, *options: str) -> GitRepo:
        # Only a file:// URL makes git honour --depth for a local clone.
        url = origin.path.resolve().as_uri()
        subprocess.run(
            ["git", "clone", "--quiet", "--depth=1", *options, url, str(path)],
            check=True,
            capture_output=True,
        )
        return cls(path)

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", *IDENTITY, *UNSIGNED, *args],
            cwd=self.path,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "--message", message)
        return self.git("rev-parse", "HEAD")

    def is_shallow(self) -> bool:
        return self.git("rev-parse", "--is-shallow-repository") == "true"
