"""A development JWT issuer: an ES256 key pair, its JWKS for Envoy, and tokens on request.

Stands in for a real identity provider: the edge only needs the issuer's
public keys (JWKS) and tokens signed with the private key. The key is made
on first use in the cluster's secrets folder (mode 0600, never committed);
the JWKS beside Envoy's config holds only the public half.

    issuer = DevIssuer(layout.secret("jwt_issuer.pem"))
    token = issuer.token("alice", issuer="https://auth.example", audience="protomesh")
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"
KEY_ID = "protomesh-dev"
PRIVATE_FILE = 0o600
DEFAULT_TTL = 3600.0


class DevIssuer:
    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file

    def ensure_key(self) -> None:
        """Make the key pair unless it exists; an existing key is kept, so tokens stay valid."""
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:
            return
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)

    def _private_key(self) -> ec.EllipticCurvePrivateKey:
        key = serialization.load_pem_private_key(self.key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{self.key_file} does not hold an EC private key")
        return key

    def jwks(self) -> dict[str, Any]:
        public: dict[str, Any] = ECAlgorithm.to_jwk(self._private_key().public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "alg": ALGORITHM, "use": "sig"}]}

    def write_jwks(self, path: Path) -> None:
        """Write the public keys where Envoy reads them (atomically: Envoy may be reading)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_text(json.dumps(self.jwks(), indent=2) + "\n")
        os.replace(scratch, path)

    def token(
        self,
        subject: str,
        *,
        issuer: str,
        audience: str,
        ttl: float = DEFAULT_TTL,
        now: float | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        issued = time.time() if now is None else now
        payload = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "iat": int(issued),
            "exp": int(issued + ttl),
            **(claims or {}),
        }
        return jwt.encode(
            payload, self._private_key(), algorithm=ALGORITHM, headers={"kid": KEY_ID}
        )
