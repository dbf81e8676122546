"""Pattern 17, end users: every route the edge exposes, tried by every kind of caller.

Through the real Envoy edge to the real user and order services. The routes
are enumerated from mesh.yaml and the descriptor catalogue (every RPC of
every exposed proto service), never from a hand list, and each is called by
four end users: anonymous, another user, the owner, and an admin (a user
whose token carries `roles: [admin]`). The status each should get is derived
from the route's `auth` policy:

    public            everyone 200
    signed_in         anonymous 401, every signed-in user 200, except where the
                      resource is the owner's own (an order): then others get
                      404, as for an order that does not exist
    {owner: field}    anonymous 401, the owner 200, everyone else 403
    {role: admin}     anonymous 401, the admin 200, everyone else 403

Each RPC needs a sample request in SAMPLES: a route added to mesh.yaml or a
method added to a contract without one fails the test, so a route is covered
the day it is added.
"""

from __future__ import annotations

import re
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import Access, RpcCatalogue
from protomesh.registry.model import OWNER, PUBLIC, ROLE, SIGNED_IN
from tests.support.envoy import Envoy, edge_mesh, running_envoy
from tests.support.mail import MailSink
from tests.support.nats import Nats
from tests.support.order_service import running_user_and_order
from tests.support.postgres import Postgres
from tests.support.reporting import reporting_service

pytestmark = pytest.mark.integration

ANONYMOUS, OTHER, OWNER_USER, ADMIN = "anonymous", "other user", "owner", "admin"
# The owner goes last: its calls change things (cancel the order) the others must find intact.
ACTORS = (ANONYMOUS, OTHER, ADMIN, OWNER_USER)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class World:
    """What the samples refer to: the three signed-up users, one order of the owner's,
    and the mail sink the owner's verification codes arrive in."""

    owner: str
    owner_email: str
    other: str
    admin: str
    order: str
    mail: MailSink


@dataclass(frozen=True)
class Sample:
    """A request for one RPC, as its fields; `own_resource`: the service hides it from others."""

    fields: Callable[[World], dict[str, Any]]
    own_resource: bool = False


def _email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def _items() -> list[dict[str, Any]]:
    return [
        {"sku": "LAMP", "quantity": 1, "unit_price": {"currency_code": "EUR", "amount_minor": "9"}}
    ]


USERS_V1, USERS_V2, ORDERS = (
    "shop.user.v1.UserService",
    "shop.user.v2.UserService",
    "shop.order.v1.OrderService",
)
SAMPLES: dict[str, Sample] = {
    f"{USERS_V1}/CreateUser": Sample(lambda w: {"email": _email(), "display_name": "New"}),
    f"{USERS_V1}/GetUser": Sample(lambda w: {"user_id": w.owner}),
    f"{USERS_V1}/ListUsers": Sample(lambda w: {"page_size": 2}),
    f"{USERS_V1}/UpdateUser": Sample(lambda w: {"user_id": w.owner, "display_name": "Renamed"}),
    f"{USERS_V2}/CreateUser": Sample(
        lambda w: {"email": _email(), "name": {"given_name": "Ada", "family_name": "L"}}
    ),
    f"{USERS_V2}/GetUser": Sample(lambda w: {"user_id": w.owner}),
    f"{USERS_V2}/ListUsers": Sample(lambda w: {"page_size": 2}),
    f"{USERS_V2}/UpdateUser": Sample(lambda w: {"user_id": w.owner, "name": {"given_name": "A"}}),
    f"{USERS_V2}/SendEmailVerification": Sample(lambda w: {"user_id": w.owner}),
    # The latest code mailed to the owner (by `world`, or by the owner's send above).
    f"{USERS_V2}/VerifyEmail": Sample(
        lambda w: {"user_id": w.owner, "code": w.mail.code_for(w.owner_email)}
    ),
    f"{ORDERS}/PlaceOrder": Sample(lambda w: {"customer_id": w.owner, "items": _items()}),
    f"{ORDERS}/GetOrder": Sample(lambda w: {"order_id": w.order}, own_resource=True),
    f"{ORDERS}/ListOrders": Sample(lambda w: {"customer_id": w.owner, "page_size": 2}),
    f"{ORDERS}/CancelOrder": Sample(
        lambda w: {"order_id": w.order, "reason": "matrix"}, own_resource=True
    ),
    "shop.reporting.v1.ReportingService/GetCustomerSummary": Sample(
        lambda w: {"customer_id": w.owner}
    ),
}

CATALOGUE = RpcCatalogue.load(DESCRIPTOR_SET)


@dataclass(frozen=True)
class Route:
    key: str  # shop.user.v1.UserService/GetUser
    http: str  # GET /v1/users/{user_id}
    access: Access


@pytest.fixture(scope="module")
def edge(
    postgres: Postgres,
    nats: Nats,
    mail_sink: MailSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Envoy]:
    """Every service the edge routes to, so that every route of mesh.yaml is exposed."""
    directory = tmp_path_factory.mktemp("route-policies")
    mail = mail_sink.service_settings
    with running_user_and_order(postgres, directory, user_overrides=mail) as (users, orders):
        reporting = reporting_service(postgres, directory, nats.url)
        reporting.start()
        try:
            mesh = edge_mesh(
                [users.port], order_ports=[orders.port], reporting_ports=[reporting.port]
            )
            with running_envoy(mesh, Path(tmp_path_factory.mktemp("edge"))) as envoy:
                envoy.wait_upstreams_healthy()
                yield envoy
        finally:
            reporting.kill()


def exposed_routes(envoy: Envoy) -> list[Route]:
    """Every RPC the edge exposes, with its REST mapping and resolved policy."""
    edge = envoy.edge
    found = []
    for proto_service in edge.exposed:
        for rpc in CATALOGUE.services[proto_service].values():
            access = edge.policy(proto_service, rpc.name).auth
            assert access is not None, f"{proto_service}/{rpc.name}: no auth"
            assert rpc.http is not None, f"{proto_service}/{rpc.name}: no REST mapping"
            found.append(Route(f"{proto_service}/{rpc.name}", rpc.http, access))
    return found


def expected(route: Route, sample: Sample, actor: str) -> int:
    access = route.access
    if access.kind == PUBLIC:
        return 200
    if actor == ANONYMOUS:
        return 401
    if access.kind == SIGNED_IN:
        return 404 if sample.own_resource and actor != OWNER_USER else 200
    if access.kind == OWNER:
        return 200 if actor == OWNER_USER else 403
    assert access.kind == ROLE, access
    return 200 if actor == ADMIN else 403


def call(envoy: Envoy, route: Route, fields: dict[str, Any], token: str | None) -> Any:
    """The route's REST call with `fields`: path fields in the path, the rest in the body
    (POST, PATCH) or the query (GET)."""
    verb, template = route.http.split(" ", 1)
    rest = dict(fields)
    path = _PLACEHOLDER.sub(lambda m: urllib.parse.quote(str(rest.pop(m.group(1)))), template)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    if verb == "GET":
        query = urllib.parse.urlencode(rest)
        return envoy.request(verb, f"{path}?{query}" if query else path, headers=headers)
    return envoy.request(verb, path, rest, headers)


def sign_up(envoy: Envoy) -> tuple[str, str]:
    email = _email()
    reply = envoy.request("POST", "/v1/users", {"email": email, "display_name": "Matrix"})
    assert reply.status == 200, reply.body
    return str(reply.json()["user"]["user_id"]), email


@pytest.fixture(scope="module")
def world(edge: Envoy, mail_sink: MailSink) -> World:
    (owner, email), (other, _), (admin, _) = sign_up(edge), sign_up(edge), sign_up(edge)
    as_owner = {"authorization": f"Bearer {edge.token(owner)}"}
    placed = edge.request("POST", "/v1/orders", {"customer_id": owner, "items": _items()}, as_owner)
    assert placed.status == 200, placed.body
    # A code is waiting whichever of the send and verify routes the matrix tries first.
    sent = edge.request("POST", f"/v2/users/{owner}:sendEmailVerification", {}, as_owner)
    assert sent.status == 200, sent.body
    return World(owner, email, other, admin, placed.json()["order"]["order_id"], mail_sink)


def tokens(edge: Envoy, world: World) -> dict[str, str | None]:
    return {
        ANONYMOUS: None,
        OTHER: edge.token(world.other),
        OWNER_USER: edge.token(world.owner),
        ADMIN: edge.token(world.admin, claims={"roles": ["admin"]}),
    }


def test_every_route_answers_each_caller_as_its_policy_says(edge: Envoy, world: World) -> None:
    routes = exposed_routes(edge)
    assert {r.key.split("/")[0] for r in routes} == set(edge.edge.exposed)
    unsampled = sorted(r.key for r in routes if r.key not in SAMPLES)
    assert not unsampled, f"routes without a sample request in SAMPLES: {unsampled}"
    by_actor = tokens(edge, world)
    wrong = []
    for route in routes:
        sample = SAMPLES[route.key]
        for actor in ACTORS:
            reply = call(edge, route, sample.fields(world), by_actor[actor])
            want = expected(route, sample, actor)
            if reply.status != want:
                wrong.append(
                    f"{route.key} ({route.access}) as {actor}: {reply.status}, want {want}"
                )
    assert not wrong, "\n".join([*wrong, ""])


def test_samples_name_only_routes_that_exist(edge: Envoy) -> None:
    """A sample left behind by a removed route would hide nothing, but lies about coverage."""
    assert set(SAMPLES) <= {r.key for r in exposed_routes(edge)}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_only_the_owner_and_admins_see_a_users_email(
    edge: Envoy, world: World, version: str
) -> None:
    by_actor = tokens(edge, world)
    seen = {}
    for actor in ACTORS:
        token = by_actor[actor]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        reply = edge.request("GET", f"/{version}/users/{world.owner}", headers=headers)
        assert reply.status == 200, reply.body
        user = reply.json()["user"]
        assert user["user_id"] == world.owner
        assert user["display_name"]  # the public profile
        seen[actor] = user["email"]
    assert seen == {
        ANONYMOUS: "",
        OTHER: "",
        ADMIN: world.owner_email,
        OWNER_USER: world.owner_email,
    }


def test_a_forged_role_header_makes_no_admin(edge: Envoy, world: World) -> None:
    """x-jwt-roles from a client is dropped by the edge: only the token's claim counts."""
    headers = {"authorization": f"Bearer {edge.token(world.other)}", "x-jwt-roles": "admin"}
    assert edge.request("GET", "/v2/users", headers=headers).status == 403
    assert edge.request("GET", "/v2/users", headers={"x-jwt-roles": "admin"}).status == 401
    forged_sub = {**headers, "x-jwt-sub": world.owner}
    reply = edge.request("PATCH", f"/v1/users/{world.owner}", {"display_name": "x"}, forged_sub)
    assert reply.status == 403
