"""mTLS from the edge to every service, with certificates Envoy reloads on rotation.

Each upstream cluster gets an UpstreamTlsContext: the edge presents its own
certificate, verifies the service's against the mesh CA, and accepts only the
SPIFFE id of the service the cluster is for (a certificate of another service
on a stale address fails with `ssl.fail_verify_san`). ALPN says h2 (gRPC),
and TLS 1.3 is allowed (Envoy's upstream default stops at 1.2).

The certificate and the CA come through SDS from files, not inline: each
secret names its files and the directory to watch, and the certs tool
publishes a new set by swapping one `..data` link in that directory, which
Envoy notices and reloads without a restart. New upstream connections use
the new certificate; the cluster's `max_connection_duration` recycles old
ones, so a rotation is in use everywhere within that time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from protomesh.authz import spiffe_id

EDGE_IDENTITY = "edge"
CERTIFICATE_SECRET = "edge_certificate"
CA_SECRET = "mesh_ca"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
TLS_CONTEXT = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
# Envoy refuses SDS without a node identity.
NODE = {"id": "edge", "cluster": "protomesh-edge"}


def _sds(name: str, sds_dir: str) -> dict[str, Any]:
    return {
        "name": name,
        "sds_config": {
            "path_config_source": {
                "path": f"{sds_dir}/{name}.yaml",
                "watched_directory": {"path": sds_dir},
            },
            "resource_api_version": "V3",
        },
    }


def transport_socket(service: str, trust_domain: str, sds_dir: str) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": TLS_CONTEXT,
            "sni": service,
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "tls_params": {"tls_maximum_protocol_version": "TLSv1_3"},
                "tls_certificate_sds_secret_configs": [_sds(CERTIFICATE_SECRET, sds_dir)],
                "combined_validation_context": {
                    "default_validation_context": {
                        "match_typed_subject_alt_names": [
                            {
                                "san_type": "URI",
                                "matcher": {"exact": spiffe_id(trust_domain, service)},
                            }
                        ]
                    },
                    "validation_context_sds_secret_config": _sds(CA_SECRET, sds_dir),
                },
            },
        },
    }


def secret_documents(certs_dir: str) -> dict[str, dict[str, Any]]:
    """The SDS files (file name → document) for certificates published in `certs_dir`."""
    watched = {"path": certs_dir}
    certificate = {
        "@type": SECRET_TYPE,
        "name": CERTIFICATE_SECRET,
        "tls_certificate": {
            "certificate_chain": {"filename": f"{certs_dir}/{EDGE_IDENTITY}.crt"},
            "private_key": {"filename": f"{certs_dir}/{EDGE_IDENTITY}.key"},
            "watched_directory": watched,
        },
    }
    authority = {
        "@type": SECRET_TYPE,
        "name": CA_SECRET,
        "validation_context": {
            "trusted_ca": {"filename": f"{certs_dir}/ca.crt"},
            "watched_directory": watched,
        },
    }
    return {
        f"{CERTIFICATE_SECRET}.yaml": {"resources": [certificate]},
        f"{CA_SECRET}.yaml": {"resources": [authority]},
    }


def write_secret_documents(sds_dir: Path, certs_dir: str) -> None:
    """Write the SDS files Envoy reads (atomically: Envoy may be watching the directory)."""
    sds_dir.mkdir(parents=True, exist_ok=True)
    for name, document in secret_documents(certs_dir).items():
        scratch = sds_dir / f".{name}.tmp"
        scratch.write_text(yaml.safe_dump(document, sort_keys=False))
        scratch.replace(sds_dir / name)
