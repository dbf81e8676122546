"""The dev JWT issuer: its tokens verify against the JWKS it publishes, and only against it."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import jwt
import pytest

from gateway.dev_issuer import DevIssuer
from protomesh.edge_auth import ROLES_CLAIM
from protomesh_toolkit import cli
from protomesh_toolkit.layout import RUN_DIR_VARIABLE, Layout

ISSUER, AUDIENCE = "https://auth.example", "protomesh"


def verify(token: str, jwks: dict[str, object]) -> dict[str, object]:
    key = jwt.PyJWKSet.from_dict(jwks).keys[0]
    claims: dict[str, object] = jwt.decode(
        token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER
    )
    return claims


def test_a_token_verifies_against_the_published_keys(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "secrets" / "issuer.pem")
    issuer.ensure_key()
    issuer.write_jwks(tmp_path / "jwks.json")
    token = issuer.token("alice", issuer=ISSUER, audience=AUDIENCE, ttl=60, now=1_000_000_000)
    jwks = json.loads((tmp_path / "jwks.json").read_text())
    assert jwks["keys"][0]["kty"] == "EC"
    assert "d" not in jwks["keys"][0]  # the public half only
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, jwks)
    fresh = issuer.token("alice", issuer=ISSUER, audience=AUDIENCE)
    assert verify(fresh, jwks)["sub"] == "alice"


def test_the_key_is_private_and_kept_across_runs(tmp_path: Path) -> None:
    key_file = tmp_path / "issuer.pem"
    DevIssuer(key_file).ensure_key()
    first = key_file.read_bytes()
    DevIssuer(key_file).ensure_key()
    assert key_file.read_bytes() == first
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_another_issuers_token_does_not_verify(tmp_path: Path) -> None:
    ours, theirs = DevIssuer(tmp_path / "ours.pem"), DevIssuer(tmp_path / "theirs.pem")
    ours.ensure_key()
    theirs.ensure_key()
    token = theirs.token("mallory", issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, ours.jwks())


def test_the_token_command_puts_roles_in_the_roles_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`protomesh token --sub root --role admin`: the claim the edge forwards as x-jwt-roles."""
    monkeypatch.setenv(RUN_DIR_VARIABLE, str(tmp_path))
    issuer = DevIssuer(Layout.from_environment().issuer_key)
    issuer.ensure_key()
    assert cli.main(["token", "--sub", "root", "--role", "admin", "--role", "support"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (claims["sub"], claims[ROLES_CLAIM]) == ("root", ["admin", "support"])
    assert cli.main(["token", "--sub", "alice"]) == 0
    plain = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert ROLES_CLAIM not in plain
