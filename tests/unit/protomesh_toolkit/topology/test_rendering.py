"""docker-compose.yml and deploy/k8s/ from the registry: what each service gets."""

from __future__ import annotations

from pathlib import Path

from protomesh_toolkit.topology import compose, kubernetes
from protomesh_toolkit.topology.files import drift, rendered
from tests.support.topology import mesh_with_order


def test_each_compose_replica_is_a_container_of_the_one_image_with_its_command(
    tmp_path: Path,
) -> None:
    _, mesh = mesh_with_order(tmp_path)
    services = compose.render(mesh)["services"]

    for name in ("order-1", "order-2"):
        order = services[name]
        assert order["image"] == services["user"]["image"] == "protomesh:local"
        assert order["command"] == ["python", "-m", "services.order"]
        assert order["environment"]["ORDER_SERVICE_PORT"] == "50052"
        assert order["environment"]["ORDER_SERVICE_NATS_URL"] == "tls://nats:4222"
        assert order["healthcheck"]["test"][-1] == "127.0.0.1:50052"
        assert order["depends_on"] == {
            "certs": {"condition": "service_completed_successfully"},
            "db-provision": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "nats": {"condition": "service_healthy"},
            "user": {"condition": "service_healthy"},
            "payments": {"condition": "service_healthy"},
        }
    assert "order" not in services
    assert services["user"]["environment"]["USER_SERVICE_NATS_URL"] == "tls://nats:4222"


def test_secrets_are_files_never_values(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    document = compose.render(mesh)
    order = document["services"]["order-1"]

    assert order["secrets"] == ["order_db_password"]  # its own role's: never the admin's
    assert order["environment"]["ORDER_SERVICE_DATABASE_PASSWORD_FILE"] == (
        "/run/secrets/order_db_password"
    )
    assert order["environment"]["ORDER_SERVICE_DATABASE_URL"] == (
        "postgresql://order_svc@postgres:5432/postgres"
    )
    assert document["secrets"]["order_db_password"] == {
        "file": "./deploy/compose/secrets/order_db_password"
    }
    assert not [key for key in order["environment"] if key.endswith("PASSWORD")]


def test_the_edge_waits_for_every_replica_it_routes_to(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    edge = compose.render(mesh)["services"]["edge"]

    assert set(edge["depends_on"]) == {
        "certs",
        "edge-config",
        "user",
        "order-1",
        "order-2",
        "reporting",
        "bff-1",
        "bff-2",
    }
    # The SDS files the edge-config job writes point Envoy at its certificate here.
    assert "certs-edge:/etc/envoy/certs:ro" in edge["volumes"]  # its own set only
    assert edge["ports"] == ["127.0.0.1:8080:8080"]
    assert edge["networks"] == ["backend", "public"]


def test_a_replicated_service_gets_its_pods_and_an_autoscaler(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    files = kubernetes.render(mesh)

    kinds = {(d["kind"], d["metadata"]["name"]) for d in files["order.yaml"]}
    assert kinds == {
        ("ConfigMap", "order-config"),
        ("Deployment", "order"),
        ("Service", "order"),
        ("PodDisruptionBudget", "order"),
        ("HorizontalPodAutoscaler", "order"),
    }
    deployment = next(d for d in files["order.yaml"] if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The kubelet's gRPC probe cannot do mTLS: the pod checks itself with its own certificate.
    assert container["readinessProbe"]["exec"]["command"] == [
        *("python", "-m", "protomesh.healthcheck"),
        *("--cert", "/certs/order.crt", "--key", "/certs/order.key", "--ca", "/certs/ca.crt"),
        *("--server-name", "order", "127.0.0.1:50052"),
    ]
    certs = next(v for v in pod["volumes"] if v["name"] == "certs")["secret"]
    assert certs["secretName"] == "protomesh-certs"
    assert [item["key"] for item in certs["items"]] == ["ca.crt", "order.crt", "order.key"]
    assert not [d for d in files["user.yaml"] if d["kind"] == "HorizontalPodAutoscaler"]
    assert files["kustomization.yaml"][0]["resources"] == [
        "bff.yaml",
        "db-provision.yaml",
        "edge.yaml",
        "namespace.yaml",
        "order-cdc.yaml",
        "order.yaml",
        "payments.yaml",
        "reporting.yaml",
        "user.yaml",
    ]
    service = next(d for d in files["order.yaml"] if d["kind"] == "Service")
    assert service["spec"]["clusterIP"] == "None"  # every pod is an address, not one VIP


def test_long_running_parts_restart_when_they_exit_and_one_shot_jobs_do_not(
    tmp_path: Path,
) -> None:
    _, mesh = mesh_with_order(tmp_path)
    containers = compose.render(mesh)["services"]
    restarting = {name for name, c in containers.items() if c.get("restart") == "unless-stopped"}
    assert {"postgres", "nats", "user", "order-1", "order-2", "order-cdc", "edge"} <= restarting
    assert {"certs", "edge-config", "db-provision", "order-cdc-setup"}.isdisjoint(restarting)
    files = kubernetes.render(mesh)
    deployments = [d for f in files.values() for d in f if d.get("kind") == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        "user",
        "order",
        "reporting",
        "bff",
        "payments",
        "order-cdc",
        "edge",
    }
    # A Deployment restarts its pods: Always, the default where it is not written.
    policies = {d["spec"]["template"]["spec"].get("restartPolicy", "Always") for d in deployments}
    assert policies == {"Always"}


def test_drift_names_what_is_missing_and_what_is_extra(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    expected = rendered(mesh)
    for path, text in expected.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert drift(tmp_path, expected) == []

    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("order-2:", "order-3:"))
    (tmp_path / "deploy/k8s/order.yaml").unlink()
    (tmp_path / "deploy/k8s/redis.yaml").write_text("kind: Service\n")

    assert drift(tmp_path, expected) == [
        "docker-compose.yml: service order-2 is missing",
        "docker-compose.yml: service order-3 is not in mesh.yaml",
        "docker-compose.yml: service bff-1 differs",  # they wait for order-2 too
        "docker-compose.yml: service bff-2 differs",
        "docker-compose.yml: service order-cdc-setup differs",  # it waits for order-2 too
        "docker-compose.yml: service order-cdc differs",
        "docker-compose.yml: service edge differs",
        "deploy/k8s/order.yaml: missing",
        "deploy/k8s/redis.yaml: not rendered from mesh.yaml",
    ]


def test_a_cdc_worker_is_one_container_and_one_recreated_pod_with_its_own_role(
    tmp_path: Path,
) -> None:
    _, mesh = mesh_with_order(tmp_path)
    worker = compose.render(mesh)["services"]["order-cdc"]
    assert worker["command"] == ["python", "-m", "protomesh.cdc"]
    settings = worker["environment"]
    assert settings["CDC_DATABASE_URL"] == "postgresql://order_cdc@postgres:5432/postgres"
    assert settings["CDC_TABLES"] == "orders=shop.order.changes.v1.OrderChanged"
    assert settings["CDC_DATABASE_SCHEMA"] == "orders"
    # Its own role's password and certificate; the admin's is its set-up job's alone.
    assert worker["secrets"] == ["order_cdc_db_password"]
    assert worker["volumes"] == ["certs-order-cdc:/certs:ro"]
    assert settings["CDC_NATS_URL"] == "tls://nats:4222"
    assert not [key for key in settings if "ADMIN" in key]
    assert set(worker["depends_on"]) == {
        "postgres",
        "nats",
        "order-1",
        "order-2",
        "order-cdc-setup",
    }
    setup = compose.render(mesh)["services"]["order-cdc-setup"]
    assert setup["command"][:4] == ["protomesh", "db", "provision", "--cdc"]
    assert setup["secrets"] == ["postgres_admin_password", "order_cdc_db_password"]
    postgres = compose.render(mesh)["services"]["postgres"]["command"]
    assert "wal_level=logical" in postgres
    assert "max_slot_wal_keep_size=1GB" in postgres

    [config, deployment] = kubernetes.render(mesh)["order-cdc.yaml"]
    assert config["data"]["CDC_NATS_URL"] == "tls://nats:4222"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # one reader per slot
