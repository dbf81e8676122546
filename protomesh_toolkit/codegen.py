"""Turn proto/ into Python modules, type stubs and Envoy's descriptor set.

Generated code is not committed: `gen/` and the descriptor are build outputs.
Every entry point (the Makefile targets, the CLI, the test session) calls
`ensure_generated()`, which regenerates when the protos' content hash differs
from the one recorded at the last generation, so a stale `gen/` cannot be run.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from protomesh.paths import DESCRIPTOR_SET, GEN_DIR, PROTO_DIR, ROOT, THIRD_PARTY_DIR

STAMP = GEN_DIR / ".protos.sha256"


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def inputs_digest() -> str:
    """Hash of every input that shapes the output, vendored protos included."""
    digest = hashlib.sha256()
    inputs = [*proto_files(), *sorted(THIRD_PARTY_DIR.rglob("*.proto")), ROOT / "buf.yaml"]
    for path in inputs:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_fresh() -> bool:
    return (
        STAMP.exists() and DESCRIPTOR_SET.exists() and STAMP.read_text().strip() == inputs_digest()
    )


def tool(name: str) -> str:
    """A binary installed into this environment by pip (buf, envoy, ...)."""
    candidate = Path(sysconfig.get_path("scripts")) / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found: run `make` targets, which install it")
    return found


def _protoc(out: Path) -> None:
    import grpc_tools  # the well-known types ship inside grpc_tools

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTO_DIR)) for p in proto_files()]
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_DIR}",
        f"-I{THIRD_PARTY_DIR}",
        f"-I{well_known}",
        # mypy-protobuf's plugins type the messages and, unlike protoc's own
        # --pyi_out, the gRPC stubs and servicers too (sync and asyncio).
        f"--plugin=protoc-gen-mypy={tool('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={tool('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        *files,
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    for directory in (p for p in out.rglob("*") if p.is_dir()):
        (directory / "__init__.py").touch()
    (out / "py.typed").touch()


def build_descriptor_set(target: Path, source: Path = ROOT) -> None:
    """The binary FileDescriptorSet Envoy's transcoder reads (imports and source info included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([tool("buf"), "build", str(source), "-o", str(target)], check=True, cwd=source)


def generate() -> None:
    """Regenerate into a scratch folder, then swap it in, so a failure never leaves half a gen/."""
    scratch = GEN_DIR.with_name(".gen.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    _protoc(scratch)
    build_descriptor_set(DESCRIPTOR_SET)
    (scratch / STAMP.name).write_text(inputs_digest() + "\n")
    shutil.rmtree(GEN_DIR, ignore_errors=True)
    scratch.rename(GEN_DIR)


def ensure_generated() -> bool:
    """Generate when stale. Returns True when it had to."""
    if is_fresh():
        return False
    generate()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="protomesh gen", description=__doc__)
    parser.add_argument("--force", action="store_true", help="regenerate even when fresh")
    args = parser.parse_args(argv)
    if args.force:
        generate()
        print(f"generated {GEN_DIR.relative_to(ROOT)}/ and {DESCRIPTOR_SET.relative_to(ROOT)}")
    elif ensure_generated():
        print(f"generated {GEN_DIR.relative_to(ROOT)}/ and {DESCRIPTOR_SET.relative_to(ROOT)}")
    else:
        print("generated code is up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
