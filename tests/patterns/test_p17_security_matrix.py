"""Pattern 17's negative matrix: one line per attack on the mesh's trust, each refused.

Every line of ATTACKS names the test that carries the attack out against the
real parts and sees it refused. An attack already proved elsewhere is
referenced there, not run twice; the ones no other test makes are made here,
below the table. `test_every_attack_is_refused_by_a_test_that_exists` keeps
the table honest: a line whose test is renamed or deleted fails.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Iterator

import grpc
import jwt
import pytest
from shop.order.v1 import order_pb2 as v1
from shop.order.v1 import order_pb2_grpc as v1_grpc

from protomesh.paths import ROOT
from tests.support import mesh_tls
from tests.support.edge_upstream import Probe, probe_upstream
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.service import ServiceProcess

HERE = "tests/patterns/test_p17_security_matrix.py"
MTLS = "tests/patterns/test_p17_mtls_authz.py"
EDGE_AUTH = "tests/integration/test_edge_auth.py"
OWNERSHIP = "tests/patterns/test_p08_data_ownership.py"
SCOPE = "tests/unit/protomesh_toolkit/topology/test_secret_scope.py"
NATS = "tests/integration/test_nats_zero_trust.py"

# attack → the test that makes it and sees it refused
ATTACKS = {
    "no client certificate": (
        f"{MTLS}::test_a_client_without_a_certificate_is_refused_and_the_service_says_why"
    ),
    "a client certificate from a foreign CA": (
        f"{MTLS}::test_a_certificate_from_another_ca_is_refused"
    ),
    "an expired client certificate": f"{MTLS}::test_an_expired_certificate_is_refused",
    "a wrong SPIFFE id (a valid certificate no callers list names)": (
        f"{MTLS}::test_an_unlisted_identity_is_denied_with_the_caller_and_method_named"
    ),
    "edge impersonation: x-jwt-sub sent with a non-edge certificate": (
        f"{HERE}::test_an_end_user_sent_with_a_non_edge_certificate_is_not_believed"
    ),
    "a forged x-jwt-sub sent by a client through the edge": (
        f"{EDGE_AUTH}::test_a_client_cannot_forge_the_subject_header"
    ),
    "a duplicated x-jwt-sub": f"{HERE}::test_a_duplicated_end_user_header_is_unauthenticated",
    "the edge calling without a signed-in user, as if internal": (
        f"{HERE}::test_the_edge_without_a_signed_in_user_is_anonymous"
    ),
    "a JWT with alg: none": f"{HERE}::test_a_jwt_with_alg_none_is_refused",
    "an expired JWT": f"{EDGE_AUTH}::test_an_expired_token_is_refused",
    "a JWT from another issuer": f"{HERE}::test_a_jwt_from_another_issuer_is_refused",
    "a JWT for another audience": f"{EDGE_AUTH}::test_a_token_for_another_audience_is_forbidden",
    "a JWT signed by another key": f"{EDGE_AUTH}::test_a_token_signed_by_another_key_is_refused",
    "a NATS client without a mesh certificate, or with one no user names": (
        f"{NATS}::test_a_client_without_a_mesh_certificate_or_user_is_refused"
    ),
    "NATS publish to another context's subject": (
        f"{NATS}::test_the_order_service_cannot_publish_a_user_event"
    ),
    "an event forged without NATS credentials reaching a consumer": (
        f"{NATS}::test_a_forged_event_never_reaches_a_consumer_and_a_real_one_does"
    ),
    "cross-schema SQL (read)": f"{OWNERSHIP}::test_the_order_role_cannot_read_the_user_schema",
    "cross-schema SQL (write)": f"{OWNERSHIP}::test_neither_role_can_write_into_the_other_schema",
    "a service reading another service's key or the CA key (compose)": (
        f"{SCOPE}::test_compose_gives_each_service_container_its_own_key_and_password_only"
    ),
    "a service reading another service's key or the CA key (Kubernetes)": (
        f"{SCOPE}::test_kubernetes_gives_each_pod_its_own_key_and_password_only"
    ),
    "a service holding the database admin password": (
        "tests/integration/test_db_provision.py::test_a_service_starts_with_no_admin_secret_at_all"
    ),
    "plaintext (PROTOMESH_INSECURE=1) listening beyond loopback": (
        "tests/unit/protomesh/test_grpc_service.py"
        "::test_the_insecure_switch_refuses_any_address_but_loopback"
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_every_attack_is_refused_by_a_test_that_exists(attack: str) -> None:
    path, name = ATTACKS[attack].split("::")
    assert (ROOT / path).is_file(), attack
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    assert callable(getattr(module, name, None)), f"{attack}: {ATTACKS[attack]} is gone"


# --- attacks on a service, with a mesh certificate -----------------------------------------


@pytest.fixture(scope="module")
def orders(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    with running_user_and_order(postgres, tmp_path_factory.mktemp("p17-matrix")) as services:
        yield services[1]


def get_order(
    service: ServiceProcess, identity: str, metadata: tuple[tuple[str, str], ...]
) -> grpc.StatusCode:
    """GetOrder of an order nobody has, as `identity`: the code the service answers."""
    request = v1.GetOrderRequest(order_id=str(uuid.uuid4()))
    with mesh_tls.channel(service.address, identity, "order") as channel:
        try:
            v1_grpc.OrderServiceStub(channel).GetOrder(request, metadata=metadata, timeout=5)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


@pytest.mark.integration
def test_an_end_user_sent_with_a_non_edge_certificate_is_not_believed(
    orders: ServiceProcess,
) -> None:
    """The operator may call OrderService, but it is no edge: its x-jwt-sub is ignored,
    and a call that claims a user is not an internal call either."""
    claimed = (("x-jwt-sub", str(uuid.uuid4())),)
    assert get_order(orders, "operator", claimed) == grpc.StatusCode.UNAUTHENTICATED
    assert get_order(orders, "operator", ()) == grpc.StatusCode.NOT_FOUND  # internal: served


@pytest.mark.integration
def test_a_duplicated_end_user_header_is_unauthenticated(orders: ServiceProcess) -> None:
    twice = (("x-jwt-sub", str(uuid.uuid4())), ("x-jwt-sub", str(uuid.uuid4())))
    assert get_order(orders, "edge", twice) == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.integration
def test_the_edge_without_a_signed_in_user_is_anonymous(orders: ServiceProcess) -> None:
    assert get_order(orders, "edge", ()) == grpc.StatusCode.UNAUTHENTICATED
    signed_in = (("x-jwt-sub", str(uuid.uuid4())),)
    assert get_order(orders, "edge", signed_in) == grpc.StatusCode.NOT_FOUND  # believed


# --- attacks on the edge's JWT check -------------------------------------------------------


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Envoy]:
    probe: Probe
    with probe_upstream(tmp_path_factory.mktemp("probe")) as probe:
        mesh = edge_mesh([probe.port])
        with running_envoy(mesh, tmp_path_factory.mktemp("edge")) as envoy:
            envoy.wait_upstreams_healthy()
            yield envoy


def update_with(edge: Envoy, token: str) -> int:
    """UpdateUser (a protected route) with `token`: the HTTP status the edge answers."""
    headers = {"authorization": f"Bearer {token}"}
    return edge.request("PATCH", "/v1/users/alice", {"display_name": "x"}, headers).status


def claims(edge: Envoy, **changes: object) -> dict[str, object]:
    assert edge.edge.jwt is not None
    now = int(time.time())
    return {
        "iss": edge.edge.jwt.issuer,
        "aud": edge.edge.jwt.audiences[0],
        "sub": "alice",
        "iat": now,
        "exp": now + 600,
        **changes,
    }


@pytest.mark.integration
def test_a_jwt_with_alg_none_is_refused(edge: Envoy) -> None:
    assert update_with(edge, edge.token("alice")) == 200  # the same call, signed: served
    unsigned = jwt.encode(claims(edge), "", algorithm="none")
    assert update_with(edge, unsigned) == 401


@pytest.mark.integration
def test_a_jwt_from_another_issuer_is_refused(edge: Envoy) -> None:
    """Signed with the right key, but naming another issuer."""
    assert update_with(edge, edge.token("alice", issuer="https://evil.example")) == 401
