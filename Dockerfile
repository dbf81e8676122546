# syntax=docker/dockerfile:1
# One image for every Python service of the mesh; compose and Kubernetes start it
# with different commands (`python -m services.user`, `protomesh edge-config`, ...).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# Build: the venv with the project (editable: it runs from /app) and the generated code.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv
RUN python -m venv $VIRTUAL_ENV
ENV PATH=$VIRTUAL_ENV/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protomesh ./protomesh
COPY services ./services
COPY gateway ./gateway
RUN pip install --editable .
COPY buf.yaml mesh.yaml ./
COPY proto ./proto
COPY third_party ./third_party
COPY envoy/compose.yaml envoy/local.yaml ./envoy/
# `make gen`: Python messages and stubs into gen/, the descriptor set into envoy/.
RUN python -m protomesh.codegen \
 && echo /app/gen > "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/protomesh-gen.pth"

# Run: the same base, the venv and the checkout copied in, a non-root user.
FROM ${PYTHON_IMAGE}
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 protomesh \
 && useradd --system --uid 10001 --gid protomesh --no-create-home --home-dir /app protomesh \
 && mkdir -p /certs /etc/envoy /var/lib/protomesh/issuer \
 && chown protomesh:protomesh /certs /etc/envoy /var/lib/protomesh/issuer
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001
CMD ["protomesh", "--help"]
