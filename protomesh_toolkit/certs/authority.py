"""The mesh's certificate authority: a root, and short-lived leaves signed by it.

Every identity in the mesh (a service, the edge, the operator's grpcurl) gets
one ECDSA P-256 leaf whose only URI SAN is its SPIFFE id
(`spiffe://<trust domain>/svc/<name>`): grpc puts exactly that in the peer's
auth context (`peer_spiffe_id`), and the authorizer reads the caller's name
from it. DNS and IP SANs let clients verify the server by the names it is
dialled by (127.0.0.1 locally, the container name in compose). Leaves carry
both serverAuth and clientAuth: every service is a server and a client.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from protomesh.authz import spiffe_id

ROOT_LIFETIME = datetime.timedelta(days=365)
LEAF_LIFETIME = datetime.timedelta(hours=24)
# A little backdating absorbs clock differences between processes and machines.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Identity:
    """Who a leaf is for, and every name it may be reached by."""

    name: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, as PEM bytes."""

    certificate: bytes
    private_key: bytes

    @property
    def parsed(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.certificate)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def new_root(trust_domain: str, lifetime: datetime.timedelta = ROOT_LIFETIME) -> KeyPair:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} mesh CA")])
    now = _now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def issue_leaf(
    root: KeyPair,
    trust_domain: str,
    identity: Identity,
    lifetime: datetime.timedelta = LEAF_LIFETIME,
    *,
    not_before: datetime.datetime | None = None,
) -> KeyPair:
    """A leaf for `identity`, signed by `root`; `not_before` lets tests make expired ones."""
    ca_key = serialization.load_pem_private_key(root.private_key, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the CA key is not an EC private key")
    ca_certificate = root.parsed
    key = _new_key()
    start = (not_before or _now()) - BACKDATE
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(spiffe_id(trust_domain, identity.name)),
        *(x509.DNSName(name) for name in identity.dns_names),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in identity.ip_addresses),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.name)]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return KeyPair(certificate.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def names_of(certificate: x509.Certificate) -> tuple[frozenset[str], frozenset[str]]:
    """The (DNS, IP) subject alternative names of a certificate."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return frozenset(), frozenset()
    dns = frozenset(san.get_values_for_type(x509.DNSName))
    ips = frozenset(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips


def signed_by(certificate: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
