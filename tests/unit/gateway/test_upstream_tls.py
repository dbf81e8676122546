"""Envoy's upstream mTLS, as rendered from the registry (checked by Envoy in test_edge_config)."""

from __future__ import annotations

from typing import Any

import yaml

from gateway.config import FILES, render
from gateway.upstream_tls import secret_documents
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import DEFAULT_MESH_FILE, RpcCatalogue, parse_mesh

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)


def user_cluster(tls: bool = True, change: str = "") -> dict[str, Any]:
    mesh = parse_mesh(DEFAULT_MESH_FILE.read_text() + change, catalogue=CATALOGUE)
    config = render(mesh, "local", CATALOGUE, FILES["local"], tls=tls)
    clusters: list[dict[str, Any]] = config["static_resources"]["clusters"]
    return next(c for c in clusters if c["name"] == "user")


def test_every_upstream_is_mutual_tls_pinned_to_the_services_spiffe_id() -> None:
    socket = user_cluster()["transport_socket"]["typed_config"]
    common = socket["common_tls_context"]
    assert socket["sni"] == "user"
    assert common["alpn_protocols"] == ["h2"]
    assert common["tls_params"] == {"tls_maximum_protocol_version": "TLSv1_3"}
    validation = common["combined_validation_context"]
    assert validation["default_validation_context"]["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"exact": "spiffe://protomesh.local/svc/user"}}
    ]
    certificate = common["tls_certificate_sds_secret_configs"][0]["sds_config"]
    assert certificate["path_config_source"] == {
        "path": "envoy/sds/edge_certificate.yaml",
        "watched_directory": {"path": "envoy/sds"},
    }


def test_sds_files_name_the_edges_files_and_watch_the_certs_directory() -> None:
    documents = secret_documents("certs")
    certificate = documents["edge_certificate.yaml"]["resources"][0]["tls_certificate"]
    assert certificate == {
        "certificate_chain": {"filename": "certs/edge.crt"},
        "private_key": {"filename": "certs/edge.key"},
        "watched_directory": {"path": "certs"},
    }
    authority = documents["mesh_ca.yaml"]["resources"][0]["validation_context"]
    assert authority["trusted_ca"] == {"filename": "certs/ca.crt"}
    assert yaml.safe_load(yaml.safe_dump(documents["mesh_ca.yaml"])) == documents["mesh_ca.yaml"]


def test_connections_are_recycled_so_rotated_client_certificates_get_used() -> None:
    options = user_cluster(change="  connection_lifetime: 90s\n")[
        "typed_extension_protocol_options"
    ]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert options["common_http_protocol_options"] == {"max_connection_duration": "90s"}


def test_with_the_mesh_insecure_upstreams_are_plaintext() -> None:
    assert "transport_socket" not in user_cluster(tls=False)
