"""What each process can read, per topology, worked out from what is rendered for it.

A service may read its own key and certificate, the CA certificate and its
own database role's password: nothing else. The CA key stays with the
certificate issuer, the admin password with the provisioning step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from protomesh.registry import DEFAULT_MESH_FILE, Mesh, load_mesh
from protomesh_toolkit.cluster.cdc import CdcProcess
from protomesh_toolkit.cluster.components import ServiceProcess
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.topology import compose, kubernetes
from protomesh_toolkit.topology.compose import CA_VOLUME
from tests.support.topology import mesh_with_order, prepared

ADMIN = "postgres_admin_password"


def own_set(service: str) -> set[str]:
    return {"ca.crt", f"{service}.crt", f"{service}.key"}


def role_passwords(mesh: Mesh) -> set[str]:
    return {f"{name}_db_password" for name, s in mesh.services.items() if s.database is not None}


def everything_issued(mesh: Mesh) -> set[str]:
    cdc = [capture.name for capture in mesh.cdc.values()]
    names = [*mesh.services, "nats", "edge", *cdc, *mesh.identities, "operator"]
    return {"ca.key", "ca.crt"} | {f"{n}.{kind}" for n in names for kind in ("crt", "key")}


# --- compose ------------------------------------------------------------------------------


def volume_contents(document: dict[str, Any], mesh: Mesh) -> dict[str, set[str]]:
    """What the jobs write into each volume, read off the certs job's command and mounts."""
    job = document["services"]["certs"]
    command = job["command"]
    store_dir = command[command.index("--dir") + 1]
    publish_dir = command[command.index("--publish") + 1]
    contents: dict[str, set[str]] = {"edge-issuer": {"jwt_issuer.pem"}}
    for mount in job["volumes"]:
        volume, path = mount.split(":")[:2]
        if path == store_dir:
            contents[volume] = everything_issued(mesh)
        elif path.startswith(publish_dir + "/"):
            contents[volume] = own_set(path.rsplit("/", 1)[1])
    return contents


def compose_readable(mesh: Mesh) -> dict[str, set[str]]:
    document = compose.render(mesh)
    contents = volume_contents(document, mesh)
    readable = {}
    for name, container in document["services"].items():
        files = set(container.get("secrets", []))
        for mount in container.get("volumes", []):
            files |= contents.get(mount.split(":")[0], set())
        readable[name] = files
    return readable


def test_compose_gives_each_service_container_its_own_key_and_password_only(
    tmp_path: Path,
) -> None:
    _, mesh = mesh_with_order(tmp_path)
    readable = compose_readable(mesh)

    assert readable["user"] == own_set("user") | {"user_db_password"}
    for replica in ("order-1", "order-2"):
        assert readable[replica] == own_set("order") | {"order_db_password"}
    assert readable["edge"] == own_set("edge")
    assert readable["nats"] == own_set("nats")
    # The CDC worker: its own certificate (NATS) and its role's password, never the admin's.
    assert readable["order-cdc"] == own_set("order-cdc") | {"order_cdc_db_password"}
    assert [name for name, files in readable.items() if "ca.key" in files] == ["certs"]
    assert sorted(name for name, files in readable.items() if ADMIN in files) == [
        "db-provision",
        "order-cdc-setup",
        "postgres",
    ]
    assert readable["db-provision"] == {ADMIN, *role_passwords(mesh)}
    assert readable["order-cdc-setup"] == {ADMIN, "order_cdc_db_password"}


def test_the_ca_volume_is_mounted_by_the_certs_job_alone(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    document = compose.render(mesh)
    mounting = [
        name
        for name, container in document["services"].items()
        for mount in container.get("volumes", [])
        if mount.split(":")[0] == CA_VOLUME
    ]
    assert mounting == ["certs"]


# --- Kubernetes ---------------------------------------------------------------------------


def pod_readable(mesh: Mesh) -> dict[str, set[str]]:
    """Container (`<workload>/<container>`) → the Secret keys mounted into it."""
    readable: dict[str, set[str]] = {}
    for documents in kubernetes.render(mesh).values():
        for document in documents:
            if document["kind"] not in ("Deployment", "Job"):
                continue
            pod = document["spec"]["template"]["spec"]
            keys = {
                volume["name"]: {item["key"] for item in volume["secret"].get("items", [])}
                or {"<every key>"}
                for volume in pod.get("volumes", [])
                if "secret" in volume
            }
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                files: set[str] = set()
                for mount in container.get("volumeMounts", []):
                    files |= keys.get(mount["name"], set())
                readable[f"{document['metadata']['name']}/{container['name']}"] = files
    return readable


def test_kubernetes_gives_each_pod_its_own_key_and_password_only(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    readable = pod_readable(mesh)

    assert readable["user/user"] == own_set("user") | {"user_db_password"}
    assert readable["order/order"] == own_set("order") | {"order_db_password"}
    assert readable["edge/envoy"] == own_set("edge")
    assert readable["edge/edge-config"] == {"<every key>"}  # the issuer Secret: jwt_issuer.pem
    assert readable["db-provision/db-provision"] == {ADMIN, *role_passwords(mesh)}
    assert readable["order-cdc/order-cdc"] == own_set("order-cdc") | {"order_cdc_db_password"}
    assert readable["order-cdc/setup"] == {ADMIN, "order_cdc_db_password"}
    assert not [name for name, files in readable.items() if "ca.key" in files]
    assert sorted(name for name, files in readable.items() if ADMIN in files) == [
        "db-provision/db-provision",
        "order-cdc/setup",
    ]


# --- the local cluster --------------------------------------------------------------------


def test_each_local_service_is_pointed_at_its_own_files_only(tmp_path: Path) -> None:
    layout = prepared(tmp_path, DEFAULT_MESH_FILE)
    planned = components(load_mesh(DEFAULT_MESH_FILE), layout)
    services = {n: c for n, c in planned.items() if isinstance(c, ServiceProcess)}
    assert services
    for name, process in services.items():
        own = {
            value
            for key, value in process.environment().items()
            if key.startswith(process.service.env_prefix) and value.startswith(str(layout.run_dir))
        }
        service = process.service.name
        password = (
            {str(layout.secret(f"{service}_db_password"))} if process.service.database else set()
        )
        assert own == {str(layout.certs_dir / f) for f in own_set(service)} | password, name
    worker = planned["order-cdc"]
    assert isinstance(worker, CdcProcess)
    own = {v for v in worker.environment().values() if v.startswith(str(layout.run_dir))}
    assert own == {str(layout.certs_dir / f) for f in own_set("order-cdc")} | {
        str(layout.secret("order_cdc_db_password"))
    }
