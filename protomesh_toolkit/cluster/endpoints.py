"""What `protomesh up` prints last: where each component listens, and commands to try.

The commands are printed to be pasted as they are, so they name the tools by
the path that works from the current directory and create a user with a fresh
email each time (a second CreateUser with the same email is ALREADY_EXISTS).
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
from pathlib import Path

from gateway.config import FILES
from protomesh.cdc.naming import CaptureNames
from protomesh.paths import RUN_DIR
from protomesh.registry import DEFAULT_MESH_FILE, LOCAL, Mesh
from protomesh.tls.files import TlsFiles, insecure
from protomesh_toolkit.cluster.cdc import CdcProcess
from protomesh_toolkit.cluster.components import Component, Postgres, ServiceProcess
from protomesh_toolkit.cluster.console import ConsoleProcess
from protomesh_toolkit.cluster.edge import EdgeProcess
from protomesh_toolkit.cluster.mail import MailSinkProcess
from protomesh_toolkit.cluster.nats import HEALTH_PATH, NatsProcess
from protomesh_toolkit.cluster.plan import ENVIRONMENT, components
from protomesh_toolkit.cluster.ports import HOST
from protomesh_toolkit.cluster.receiver import OtlpReceiverProcess
from protomesh_toolkit.codegen import tool
from protomesh_toolkit.layout import MESH_FILE_VARIABLE, RUN_DIR_VARIABLE, Layout, shown

USER_CONTRACT = "shop.user.v1.UserService"
ORDER_CONTRACT = "shop.order.v1.OrderService"
# Without mTLS no caller is the edge or a mesh service: every order call is anonymous.
PLAINTEXT_ORDERS = (
    "orders need a signed-in user or a mesh identity, which plaintext cannot carry: "
    "run without PROTOMESH_INSECURE=1 to try them"
)
VERIFYING_CONTRACT = "shop.user.v2.UserService"
WEB_BFF_CONTRACT = "shop.bff.web.v1.WebBffService"
# One line of an example order; REST and gRPC take the proto's field names.
ORDER_LINE = {
    "sku": "BOOK-1",
    "quantity": 2,
    "unit_price": {"currency_code": "EUR", "amount_minor": 1250},
}
USER_ID = """'import json, sys; print(json.load(sys.stdin)["user"]["user_id"])'"""


def describe(mesh: Mesh, layout: Layout) -> str:
    parts = components(mesh, layout)
    width = max([8, *(len(name) for name in parts)])
    lines = [f"Endpoints ({ENVIRONMENT}):"]
    for component in parts.values():
        lines += _endpoint(component, " " * width, width)
        lines.append(f"  {' ' * width}  log: {shown(component.log)}")
    lines += ["", "Try it:"]
    services = [c for c in parts.values() if isinstance(c, ServiceProcess)]
    if services:
        lines.append("  # services take mTLS only: grpcurl shows the operator's certificate")
    for service in services:
        lines += _grpc_examples(service)
    edge = next((c for c in parts.values() if isinstance(c, EdgeProcess)), None)
    if edge is not None and mesh.edge is not None:
        exposed = mesh.edge.exposed
        mail = any(isinstance(c, MailSinkProcess) for c in parts.values())
        lines += _edge_examples(
            edge, USER_CONTRACT in exposed, ORDER_CONTRACT in exposed, WEB_BFF_CONTRACT in exposed
        )
        if mail and VERIFYING_CONTRACT in exposed:
            lines += _verification_examples(edge)
    nats = next((c for c in parts.values() if isinstance(c, NatsProcess)), None)
    if nats is not None:
        lines += [
            "",
            "  # NATS: is JetStream up, and which streams does it hold?",
            f"  curl -s 'http://{HOST}:{nats.admin_port}{HEALTH_PATH}'",
            f"  curl -s 'http://{HOST}:{nats.admin_port}/jsz?streams=true'",
        ]
    if any(isinstance(c, OtlpReceiverProcess) for c in parts.values()):
        lines += [
            "",
            "  # the traces of those calls (newest first), then one as a tree",
            f"  {_protomesh(layout)} traces",
            f"  {_protomesh(layout)} traces TRACE_ID",
        ]
    lines += [
        "",
        "It keeps running in the background: `protomesh status`, `protomesh logs NAME -f`,",
        "`protomesh down` (keeps the data; `--purge` deletes it).",
    ]
    return "\n".join(lines)


def _endpoint(component: Component, pad: str, width: int) -> list[str]:
    name = f"  {component.name:<{width}}"
    if isinstance(component, Postgres):
        return [
            f"{name}  {component.dsn()}",
            f"  {pad}  password file: {shown(component.password_file)}",
        ]
    if isinstance(component, OtlpReceiverProcess):
        return [
            f"{name}  OTLP/gRPC {component.endpoint}  (traces of the services and the edge)",
            f"  {pad}  spans: {shown(component.layout.traces_file)}; `protomesh traces` shows them",
        ]
    if isinstance(component, ConsoleProcess):
        return [f"{name}  {component.url}  (the mesh as a page; `protomesh console` opens it)"]
    if isinstance(component, MailSinkProcess):
        return [
            f"{name}  SMTP {HOST}:{component.port}  (a sink: keeps mail, delivers none)",
            f"  {pad}  messages: {shown(component.layout.mail_dir)}; `protomesh mail` shows them",
        ]
    if isinstance(component, NatsProcess):
        return [
            f"{name}  {component.url}  (JetStream; store in {shown(component.layout.nats_store)})",
            f"  {pad}  monitor http://{HOST}:{component.admin_port}  (health: {HEALTH_PATH})",
        ]
    if isinstance(component, CdcProcess):
        names = CaptureNames(component.capture.service)
        tables = ", ".join(component.capture.tables)
        stream, subjects = names.stream.name, names.subject("<table>")
        metrics = f"http://{HOST}:{component.port}/metrics"
        return [
            f"{name}  change capture of {tables} from the WAL → {stream} ({subjects})",
            f"  {pad}  metrics {metrics}  (slot lag: cdc_slot_lag_bytes)",
        ]
    if isinstance(component, ServiceProcess):
        transport = "PLAINTEXT (PROTOMESH_INSECURE=1)" if insecure() else "mTLS"
        lines = [
            f"{name}  grpc {HOST}:{component.port}  ({transport}, reflection on)",
            f"  {pad}  serves {', '.join(component.service.serves) or 'nothing'}",
        ]
        if component.metrics_port is not None:
            lines.append(f"  {pad}  metrics http://{HOST}:{component.metrics_port}/metrics")
        return lines
    return [
        f"{name}  REST  http://{HOST}:{component.port}  (JSON; /v1/..., /v2/...)",
        f"  {pad}  gRPC  {HOST}:{component.port}  (h2c through Envoy; no reflection here)",
        f"  {pad}  docs  http://{HOST}:{component.port}/docs  (Swagger UI on /openapi.json)",
        f"  {pad}  admin http://{HOST}:{component.admin_port}  (loopback only)",
    ]


def _quoted(path: Path) -> str:
    return shlex.quote(shown(path))


def _create_and_keep_id(command: str) -> str:
    python = _quoted(Path(sys.executable))
    return f"  USER_ID=$({command} | {python} -c {USER_ID})"


def _protomesh(layout: Layout) -> str:
    """The CLI as a pasted command must call it: with this cluster's run dir and mesh."""
    command = _quoted(Path(tool("protomesh")))
    settings = {
        RUN_DIR_VARIABLE: (layout.run_dir, RUN_DIR),
        MESH_FILE_VARIABLE: (layout.mesh_file, DEFAULT_MESH_FILE),
    }
    for variable, (path, default) in settings.items():
        if path != default.resolve():
            command = f"{variable}={_quoted(path)} {command}"
    return command


def grpcurl_tls_flags(layout: Layout, server: str) -> str:
    """grpcurl's flags to call a service as the operator: mTLS, or -plaintext when TLS is off."""
    if insecure():
        return "-plaintext"
    own = TlsFiles.of(layout.certs_dir, "operator")
    paths = (own.ca, own.cert, own.key)
    cacert, cert, key = (_quoted(path) for path in paths)
    return f"-cacert {cacert} -cert {cert} -key {key} -servername {server}"


def _grpc_examples(service: ServiceProcess) -> list[str]:
    flags = grpcurl_tls_flags(service.layout, service.service.name)
    grpcurl = f"{_quoted(Path(tool('grpcurl')))} {flags}"
    address = f"{HOST}:{service.port}"
    examples = [f"  {grpcurl} {address} list"]
    if USER_CONTRACT in service.service.serves:
        email = f"ada.{secrets.token_hex(3)}@example.com"
        create = shlex.quote(json.dumps({"email": email, "display_name": "Ada Lovelace"}))
        get = r'"{\"user_id\": \"$USER_ID\"}"'  # double quotes: the shell fills in $USER_ID
        examples += [
            "  # create a user and keep its id, then read it back",
            _create_and_keep_id(f"{grpcurl} -d {create} {address} {USER_CONTRACT}/CreateUser"),
            f"  {grpcurl} -d {get} {address} {USER_CONTRACT}/GetUser",
        ]
    if ORDER_CONTRACT in service.service.serves and insecure():
        examples.append(f"  # {PLAINTEXT_ORDERS}")
    elif ORDER_CONTRACT in service.service.serves:
        mine = r'"{\"customer_id\": \"$USER_ID\"}"'
        examples += [
            "  # the orders of that user (the operator may read any customer's)",
            f"  {grpcurl} -d {mine} {address} {ORDER_CONTRACT}/ListOrders",
        ]
    return examples


def _verification_examples(edge: EdgeProcess) -> list[str]:
    """The email check: a code goes to the mail sink, `protomesh mail` reads it back.

    Needs $USER_ID and $TOKEN from the edge examples before it; `mail --last
    --code` reads the code from the newest message.
    """
    base = f"http://{HOST}:{edge.port}/v2/users/$USER_ID"
    bearer = '-H "authorization: Bearer $TOKEN"'
    json_header = "-H 'content-type: application/json'"
    code = r'"{\"code\": \"$CODE\"}"'
    return [
        "  # verify the email: a one-time code is mailed to the local sink, then sent back",
        f"  curl -s -X POST {base}:sendEmailVerification {bearer} {json_header} -d '{{}}'",
        f"  CODE=$({_protomesh(edge.layout)} mail --last --code)",
        f"  curl -s -X POST {base}:verifyEmail {bearer} {json_header} -d {code}",
    ]


def _edge_examples(
    edge: EdgeProcess, user_api: bool, order_api: bool, web_api: bool = False
) -> list[str]:
    base = f"http://{HOST}:{edge.port}"
    protomesh = _protomesh(edge.layout)
    # The edge's descriptor set: the contracts plus google.rpc's error details.
    protoset = _quoted(edge.layout.run_dir / FILES[LOCAL].descriptor)
    grpcurl = f"{_quoted(Path(tool('grpcurl')))} -plaintext -protoset {protoset}"
    if not user_api:
        return ["", f"  # through the edge: REST under {base}, gRPC at {HOST}:{edge.port}"]
    email = f"grace.{secrets.token_hex(3)}@example.com"
    v1_body = shlex.quote(json.dumps({"email": email, "display_name": "Grace Hopper"}))
    name = {"name": {"given_name": "Grace", "family_name": "Hopper"}}
    v2_update = shlex.quote(json.dumps(name))
    json_header = "-H 'content-type: application/json'"
    bearer = '-H "authorization: Bearer $TOKEN"'
    admin = '-H "authorization: Bearer $ADMIN_TOKEN"'
    orders = []
    if order_api and insecure():
        orders = [f"  # {PLAINTEXT_ORDERS}"]
    elif order_api:
        # Double quotes so the shell fills in $USER_ID; the key makes a retry harmless.
        order = json.dumps({"customer_id": "$USER_ID", "items": [ORDER_LINE]})
        body = '"' + order.replace('"', '\\"') + '"'
        key = f"order-{secrets.token_hex(8)}"
        orders = [
            "  # place an order as that user (a retry with the same key does nothing), list them",
            f"  curl -s -X POST {base}/v1/orders {bearer} -H 'idempotency-key: {key}'"
            f" {json_header} -d {body}",
            f"  curl -s {base}/v1/customers/$USER_ID/orders {bearer}",
        ]
    if web_api:
        # The web BFF: the customer is the token's subject, so the URL names no one.
        orders += [
            "  # the web app's dashboard from the BFF: profile, recent orders, count in one call",
            f"  curl -s '{base}/web/v1/dashboard?recent_orders_limit=3' {bearer}",
        ]
    return [
        "",
        "  # REST through the Envoy edge: v1 and v2 side by side",
        _create_and_keep_id(f"curl -s {base}/v1/users {json_header} -d {v1_body}"),
        "  # sign-up is public; the rest needs a token: the dev issuer signs one (an hour)",
        f"  TOKEN=$({protomesh} token --sub $USER_ID)",
        f"  curl -s {base}/v1/users/$USER_ID {bearer}",
        "  # listing every user is for admins only (docs/authorization.md)",
        f"  ADMIN_TOKEN=$({protomesh} token --sub admin --role admin)",
        f"  curl -s '{base}/v2/users?page_size=5' {admin}",
        f"  curl -s -X PATCH {base}/v2/users/$USER_ID {bearer} {json_header} -d {v2_update}",
        *orders,
        "  # gRPC through the same edge (it has no reflection: give grpcurl the descriptor set)",
        f"  {grpcurl} {admin} -d '{{\"page_size\": 5}}' {HOST}:{edge.port}"
        " shop.user.v2.UserService/ListUsers",
    ]
