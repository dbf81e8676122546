"""The rendered topology as files: what they should hold, and how committed ones differ.

docker-compose.yml and deploy/k8s/ are committed (a reviewer sees what a
mesh.yaml change does to the deployment) and must never drift from the
registry. `drift()` says exactly what differs, by compose service and by
Kubernetes file and object, so a failing check reads as a to-do list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from protomesh.registry import Mesh
from protomesh_toolkit.topology import compose, kubernetes

COMPOSE_FILE = "docker-compose.yml"
NATS_HEADER = "# Rendered from mesh.yaml by `python -m protomesh_toolkit.topology`: do not edit.\n"
K8S_DIR = Path("deploy") / "k8s"


class _PlainDumper(yaml.SafeDumper):
    """Writes a value shared by several keys out each time: no &anchors, no *aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(documents: list[dict[str, Any]], header: str) -> str:
    body = yaml.dump_all(
        documents, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False, width=100
    )
    return header + body


def rendered(mesh: Mesh) -> dict[Path, str]:
    """Path (relative to the checkout) → the text it should hold."""
    texts = {Path(COMPOSE_FILE): dump([compose.render(mesh)], compose.HEADER)}
    if "nats" in mesh.infrastructure:
        config = json.dumps(compose.nats_config(mesh), indent=2)
        texts[Path(compose.NATS_CONFIG)] = f"{NATS_HEADER}{config}\n"
    for name, documents in kubernetes.render(mesh).items():
        texts[K8S_DIR / name] = dump(documents, kubernetes.HEADER)
    return texts


def drift(root: Path, expected: dict[Path, str]) -> list[str]:
    """One line per difference between the files under `root` and `expected`; [] when none."""
    problems = []
    for path, text in expected.items():
        target = root / path
        if not target.exists():
            problems.append(f"{path}: missing")
        elif target.read_text() != text:
            problems += [f"{path}: {line}" for line in _differences(target.read_text(), text)]
    committed = {path.relative_to(root) for path in (root / K8S_DIR).glob("*.yaml")}
    problems += [
        f"{path}: not rendered from mesh.yaml" for path in sorted(committed - set(expected))
    ]
    return problems


def _differences(current: str, wanted: str) -> list[str]:
    """Which objects differ: compose services, or Kubernetes objects by kind/name."""
    try:
        have, want = _objects(current), _objects(wanted)
    except yaml.YAMLError as error:
        return [f"not valid YAML ({error})"]
    lines = [f"{key} is missing" for key in want if key not in have]
    lines += [f"{key} is not in mesh.yaml" for key in have if key not in want]
    lines += [f"{key} differs" for key in want if key in have and have[key] != want[key]]
    return lines or ["differs (formatting or top-level keys)"]


def _objects(text: str) -> dict[str, Any]:
    objects: dict[str, Any] = {}
    for document in yaml.safe_load_all(text):
        if not isinstance(document, dict):
            continue
        if "services" in document and "kind" not in document:
            for name, service in (document.get("services") or {}).items():
                objects[f"service {name}"] = service
            objects |= {key: value for key, value in document.items() if key != "services"}
        else:
            name = (document.get("metadata") or {}).get("name")
            objects[f"{document.get('kind')} {name}"] = document
    return objects
