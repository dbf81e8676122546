"""The files the edge serves at /openapi.json and /docs, written where Envoy reads them.

The page is Swagger UI from the `swagger-ui-bundle-v2` package (its dist
files, copied as they are) with a page and a start script of our own: every
asset comes from the edge itself, nothing from a CDN, and the online
validator badge Swagger UI would load is turned off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import swagger_ui_bundle

from gateway.openapi.contracts import Contracts
from gateway.openapi.document import as_json, openapi_document
from protomesh.paths import DESCRIPTOR_SET
from protomesh.registry import Mesh

# Envoy keeps direct_response bodies in memory and refuses bigger ones than
# the route config allows (4 KiB by default); Swagger UI's bundle is ~1.5 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024
SPEC = "openapi.json"
PAGE_TITLE = "protomesh API"


@dataclass(frozen=True)
class Page:
    paths: tuple[str, ...]  # what a client asks for
    file: str  # its file in the pages directory
    content_type: str


PAGES = (
    Page(("/openapi.json",), SPEC, "application/json"),
    Page(("/docs", "/docs/"), "index.html", "text/html; charset=utf-8"),
    Page(("/docs/docs.js",), "docs.js", "text/javascript; charset=utf-8"),
    Page(("/docs/swagger-ui.css",), "swagger-ui.css", "text/css; charset=utf-8"),
    Page(("/docs/swagger-ui-bundle.js",), "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
)
PACKAGED = ("swagger-ui.css", "swagger-ui-bundle.js")
INDEX = f"""\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{PAGE_TITLE}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/docs.js"></script>
</body>
</html>
"""
START = """\
// Swagger UI on the edge's own document; validatorUrl: null keeps it from
// asking an online validator for a badge (the page loads nothing from outside).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
  });
});
"""


class PagesError(Exception):
    """The packaged Swagger UI is missing or too big for the edge to serve."""


def swagger_ui_dir() -> Path:
    return Path(str(swagger_ui_bundle.swagger_ui_path))


def write_pages(directory: Path, mesh: Mesh, descriptor_set: Path = DESCRIPTOR_SET) -> None:
    """The document of `mesh`'s edge, the page and its assets; each file replaced atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    document = openapi_document(mesh, Contracts.load(descriptor_set))
    texts = {SPEC: as_json(document), "index.html": INDEX, "docs.js": START}
    for name, text in texts.items():
        _write(directory / name, text.encode())
    source = swagger_ui_dir()
    for name in PACKAGED:
        try:
            content = (source / name).read_bytes()
        except OSError as error:
            raise PagesError(f"Swagger UI's {name} not found in {source}: {error}") from None
        _write(directory / name, content)


def _write(target: Path, content: bytes) -> None:
    if len(content) > MAX_BODY_BYTES:
        raise PagesError(
            f"{target.name} is {len(content)} bytes, over the {MAX_BODY_BYTES} the edge serves"
        )
    scratch = target.with_name(target.name + ".tmp")
    scratch.write_bytes(content)
    os.replace(scratch, target)
