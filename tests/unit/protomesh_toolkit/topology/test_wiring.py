"""The settings each service gets: the same keys everywhere, addresses per environment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from protomesh.registry import load_mesh
from protomesh_toolkit.cluster.cdc import CdcProcess
from protomesh_toolkit.cluster.components import ServiceProcess
from protomesh_toolkit.cluster.plan import components
from protomesh_toolkit.topology import compose, kubernetes
from tests.support.topology import mesh_with_order, prepared


def test_the_local_cluster_gives_a_nats_dependent_service_its_url(tmp_path: Path) -> None:
    mesh_file, mesh = mesh_with_order(tmp_path)
    planned = components(mesh, prepared(tmp_path, mesh_file))

    assert list(planned) == [
        *("postgres", "nats", "smtp", "payments", "user", "reporting", "order", "bff"),
        *("order-cdc", "edge", "console"),
    ]
    order, user = planned["order"], planned["user"]
    assert isinstance(order, ServiceProcess)
    assert isinstance(user, ServiceProcess)
    assert order.environment()["ORDER_SERVICE_NATS_URL"] == "tls://127.0.0.1:54222"
    # The user service relays its outbox and counts orders: it depends on nats too.
    assert user.environment()["USER_SERVICE_NATS_URL"] == "tls://127.0.0.1:54222"
    # Over mutual TLS with its own certificate; plaintext only when the mesh runs insecure.
    assert user.environment()["USER_SERVICE_TLS_CERT_PATH"].endswith("/certs/user.crt")
    worker = planned["order-cdc"]
    assert isinstance(worker, CdcProcess)
    assert worker.port == 9467
    assert worker.environment()["CDC_NATS_URL"] == "tls://127.0.0.1:54222"
    assert worker.environment()["CDC_TLS_CERT_PATH"].endswith("/certs/order-cdc.crt")
    assert not any("ADMIN" in key for key in worker.environment() if key.startswith("CDC_"))
    assert (
        worker.environment()["CDC_DATABASE_URL"]
        == "postgresql://order_cdc@127.0.0.1:55432/postgres"
    )
    # It sends verification mail: to the cluster's mail sink.
    smtp = {k: v for k, v in user.environment().items() if "_SMTP_" in k}
    assert smtp == {"USER_SERVICE_SMTP_HOST": "127.0.0.1", "USER_SERVICE_SMTP_PORT": "58025"}


def test_local_and_compose_settings_differ_only_in_addresses(tmp_path: Path) -> None:
    mesh_file, mesh = mesh_with_order(tmp_path)
    # With `up --otlp` the local services trace to the cluster's receiver, as compose's
    # trace to its collector: the same keys.
    order = components(mesh, prepared(tmp_path, mesh_file), otlp=True)["order"]
    assert isinstance(order, ServiceProcess)
    local = {k: v for k, v in order.environment().items() if k.startswith("ORDER_SERVICE_")}
    container = compose.render(mesh)["services"]["order-1"]["environment"]

    # Two replicas in compose, one locally: only the replicated one waits for the edge to notice.
    assert set(local) | {"ORDER_SERVICE_SHUTDOWN_DELAY"} == {
        k for k in container if k.startswith("ORDER_SERVICE_")
    }
    assert local["ORDER_SERVICE_DATABASE_SCHEMA"] == container["ORDER_SERVICE_DATABASE_SCHEMA"]
    assert local["ORDER_SERVICE_DATABASE_URL"] == "postgresql://order_svc@127.0.0.1:55432/postgres"
    # The mTLS identity and the registry whose `callers` it enforces, as each place mounts them.
    assert local["ORDER_SERVICE_TLS_KEY_PATH"] == str(tmp_path / "run" / "certs" / "order.key")
    assert container["ORDER_SERVICE_TLS_KEY_PATH"] == "/certs/order.key"
    assert container["ORDER_SERVICE_TLS_CA_PATH"] == "/certs/ca.crt"
    assert local["ORDER_SERVICE_MESH_FILE"] == str(mesh_file)
    assert container["ORDER_SERVICE_MESH_FILE"] == "/app/mesh.yaml"
    assert local["ORDER_SERVICE_OTLP_ENDPOINT"] == "127.0.0.1:4317"  # telemetry.receiver_port
    assert container["ORDER_SERVICE_OTLP_ENDPOINT"] == "otel-collector:4317"


def test_a_replicated_service_keeps_serving_until_the_edge_has_failed_it_out(
    tmp_path: Path,
) -> None:
    mesh_file, _ = mesh_with_order(tmp_path)
    document = yaml.safe_load(mesh_file.read_text())
    replicas = document["services"]["order"]["replicas"]
    replicas[1]["port"]["local"] = 50062
    replicas[1].get("metrics_port", {}).pop("local", None)
    mesh_file.write_text(yaml.safe_dump(document))
    planned = components(load_mesh(mesh_file), prepared(tmp_path, mesh_file))

    # The edge needs 2 failed checks 2 s apart, the last with its 1 s timeout: 5 s.
    for name in ("order-1", "order-2"):
        part = planned[name]
        assert isinstance(part, ServiceProcess)
        assert part.environment()["ORDER_SERVICE_SHUTDOWN_DELAY"] == "5"
    user = planned["user"]
    assert isinstance(user, ServiceProcess)
    assert "USER_SERVICE_SHUTDOWN_DELAY" not in user.environment()  # no other replica to go to


def test_telemetry_settings_follow_the_registry_in_every_environment(tmp_path: Path) -> None:
    """Tracing only where there is a collector; a metrics port where the registry names one."""
    mesh_file, mesh = mesh_with_order(tmp_path)
    user = components(mesh, prepared(tmp_path, mesh_file))["user"]
    assert isinstance(user, ServiceProcess)
    local = user.environment()
    container = compose.render(mesh)["services"]["user"]["environment"]
    k8s_config = next(
        document["data"]
        for document in kubernetes.render(mesh)["user.yaml"]
        if document["kind"] == "ConfigMap"
    )

    assert "USER_SERVICE_OTLP_ENDPOINT" not in local  # `up` without --otlp
    assert container["USER_SERVICE_OTLP_ENDPOINT"] == "otel-collector:4317"
    assert container["USER_SERVICE_TRACE_SAMPLE_RATE"] == str(mesh.telemetry.sample_rate)
    assert "USER_SERVICE_OTLP_ENDPOINT" not in k8s_config  # no collector in the manifests
    for settings in (local, container, k8s_config):
        assert settings["USER_SERVICE_METRICS_PORT"] == "9464"
    assert "ORDER_SERVICE_METRICS_PORT" not in container  # the order entry names none


def test_the_insecure_switch_gives_local_services_no_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROTOMESH_INSECURE", "1")
    mesh_file, mesh = mesh_with_order(tmp_path)
    order = components(mesh, prepared(tmp_path, mesh_file))["order"]
    assert isinstance(order, ServiceProcess)
    assert not [key for key in order.environment() if key.startswith("ORDER_SERVICE_TLS_")]
    assert order.environment()["ORDER_SERVICE_NATS_URL"].startswith("nats://")  # plaintext


def test_replicas_of_a_service_share_its_role_password(tmp_path: Path) -> None:
    mesh_file, _ = mesh_with_order(tmp_path)
    document = yaml.safe_load(mesh_file.read_text())
    document["services"]["order"]["replicas"][1]["port"]["local"] = 50062
    mesh_file.write_text(yaml.safe_dump(document))
    planned = components(load_mesh(mesh_file), prepared(tmp_path, mesh_file))

    files = set()
    for name in ("order-1", "order-2"):
        replica = planned[name]
        assert isinstance(replica, ServiceProcess)
        files.add(replica.environment()["ORDER_SERVICE_DATABASE_PASSWORD_FILE"])
    assert files == {str(tmp_path / "run" / "secrets" / "order_db_password")}


def test_each_replica_is_told_its_server_processes_in_every_environment(tmp_path: Path) -> None:
    """`workers:` from the registry: one process locally by default, one per core elsewhere."""
    mesh_file, _ = mesh_with_order(tmp_path)
    document = yaml.safe_load(mesh_file.read_text())
    document["services"]["order"]["workers"] = {"local": 2, "compose": 3}
    mesh_file.write_text(yaml.safe_dump(document))
    mesh = load_mesh(mesh_file)
    planned = components(mesh, prepared(tmp_path, mesh_file))
    containers = compose.render(mesh)["services"]
    k8s_order = next(
        document["data"]
        for document in kubernetes.render(mesh)["order.yaml"]
        if document["kind"] == "ConfigMap"
    )

    user, order = planned["user"], planned["order"]
    assert isinstance(user, ServiceProcess)
    assert isinstance(order, ServiceProcess)
    assert user.environment()["USER_SERVICE_WORKERS"] == "1"
    assert containers["user"]["environment"]["USER_SERVICE_WORKERS"] == "auto"
    assert order.environment()["ORDER_SERVICE_WORKERS"] == "2"
    for name in ("order-1", "order-2"):
        assert containers[name]["environment"]["ORDER_SERVICE_WORKERS"] == "3"
    assert k8s_order["ORDER_SERVICE_WORKERS"] == "3"


def test_auto_follows_a_cpu_bound_on_every_container(tmp_path: Path) -> None:
    """A server process per core of the *host* would multiply memory and database pools."""
    _, mesh = mesh_with_order(tmp_path)
    containers = compose.render(mesh)["services"]
    deployment = next(
        document
        for document in kubernetes.render(mesh)["user.yaml"]
        if document["kind"] == "Deployment"
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for name in ("user", "order-1", "order-2", "bff-1", "bff-2", "reporting"):
        assert containers[name]["cpus"] == 2.0
    assert container["resources"]["limits"]["cpu"] == "2"
