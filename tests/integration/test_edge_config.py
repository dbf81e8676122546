"""Envoy itself accepts every configuration the renderer writes (`envoy --mode validate`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.cli import rendered
from gateway.config import FILES, EdgeFiles, as_yaml, render
from gateway.descriptors import write_edge_descriptor_set
from gateway.dev_issuer import DevIssuer
from gateway.openapi.pages import write_pages
from gateway.upstream_tls import write_secret_documents
from protomesh.paths import DESCRIPTOR_SET, ENVOY_DIR
from protomesh.registry import LOCAL, RpcCatalogue, load_mesh
from protomesh_toolkit.certs.issuance import ensure_certificates
from protomesh_toolkit.cluster import envoy_admin as admin

pytestmark = pytest.mark.integration


def envoy_inputs(directory: Path) -> EdgeFiles:
    """The descriptor set, a JWKS, the certificates and their SDS files, the API pages, as the
    cluster lays them out."""
    files = EdgeFiles(
        str(directory / "envoy" / "edge.binpb"),
        str(directory / "envoy" / "jwks.json"),
        str(directory / "certs"),
        str(directory / "envoy" / "sds"),
        str(directory / "envoy" / "pages"),
    )
    assert files.pages is not None
    write_pages(Path(files.pages), load_mesh())
    ensure_certificates(load_mesh(), Path(files.certs))
    write_secret_documents(Path(files.sds), files.certs)
    write_edge_descriptor_set(DESCRIPTOR_SET, Path(files.descriptor))
    issuer = DevIssuer(directory / "secrets" / "jwt_issuer.pem")
    issuer.ensure_key()
    issuer.write_jwks(Path(files.jwks))
    return files


def validate(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        admin.validate_command(config),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("environment", ["local", "compose"])
def test_envoy_accepts_the_rendered_config(environment: str, tmp_path: Path) -> None:
    files = envoy_inputs(tmp_path)
    catalogue = RpcCatalogue.load(DESCRIPTOR_SET)
    mesh = load_mesh(catalogue=catalogue)
    config = tmp_path / f"{environment}.yaml"
    config.write_text(as_yaml(render(mesh, environment, catalogue, files), environment))
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"configuration '{config}' OK" in result.stdout


def test_envoy_accepts_the_committed_local_config_in_a_run_directory(tmp_path: Path) -> None:
    """envoy/local.yaml names its files relative to the run directory Envoy starts in."""
    envoy_inputs(tmp_path)
    write_secret_documents(tmp_path / FILES[LOCAL].sds, FILES[LOCAL].certs)
    assert FILES[LOCAL].descriptor == "envoy/edge.binpb"
    result = validate(ENVOY_DIR / "local.yaml", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_accepts_the_committed_compose_config(tmp_path: Path) -> None:
    """envoy/compose.yaml reads its files from /etc/envoy, mounted in the container: moved here."""
    files = envoy_inputs(tmp_path)
    text = (ENVOY_DIR / "compose.yaml").read_text()
    for moved in ("descriptor", "jwks", "sds", "pages"):
        text = text.replace(getattr(FILES["compose"], moved), getattr(files, moved))
    config = tmp_path / "compose.yaml"
    config.write_text(text)
    result = validate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_envoy_refuses_a_broken_config(tmp_path: Path) -> None:
    """The validation is not a formality: a listener on a bad address fails it."""
    envoy_inputs(tmp_path)
    text = rendered(ENVOY_DIR.parent / "mesh.yaml")[LOCAL].replace(
        "port_value: 8080", "port_value: -1"
    )
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    assert validate(config, tmp_path).returncode != 0
