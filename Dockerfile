# syntax=docker/dockerfile:1
# Two images from one file. The default (last) stage, `service`, is what every
# Python service runs (`python -m services.user`, ...): the runtime and its
# dependencies only. `toolkit` adds the operator's tools (the CA, the edge's
# renderer, the dev JWT issuer, buf, Envoy, ...) for the one-shot jobs that
# issue certificates and prepare Envoy's files. compose and Kubernetes name
# both (docker-compose.yml builds each with its `target`).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# Build: a venv with the toolkit, and `make gen` run with it (gen/ and envoy/*.binpb).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv
RUN python -m venv $VIRTUAL_ENV
ENV PATH=$VIRTUAL_ENV/bin:$PATH
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protomesh ./protomesh
COPY protomesh_toolkit ./protomesh_toolkit
COPY services ./services
COPY gateway ./gateway
RUN pip install --editable '.[tools]'
COPY buf.yaml mesh.yaml ./
COPY proto ./proto
COPY third_party ./third_party
COPY envoy/compose.yaml envoy/local.yaml ./envoy/
# The images set PYTHONDONTWRITEBYTECODE and /app is not the app user's to write:
# compile the project's and the generated modules here, or every container start
# (and restart after a crash) compiles them again (~40 ms of a service's ~0.3 s
# of CPU to SERVING). checked-hash: a changed source is noticed, whatever its mtime.
RUN python -m protomesh_toolkit.codegen \
 && echo /app/gen > "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/protomesh-gen.pth" \
 && python -m compileall -q --invalidation-mode checked-hash protomesh protomesh_toolkit services gateway gen

# The runtime's venv: what `services/*` import, nothing of the toolkit's wheels.
FROM ${PYTHON_IMAGE} AS runtime-venv
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv
RUN python -m venv $VIRTUAL_ENV
ENV PATH=$VIRTUAL_ENV/bin:$PATH
WORKDIR /app
COPY --from=build /app /app
RUN pip install --editable . \
 && echo /app/gen > "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/protomesh-gen.pth"

# The toolkit image: the one-shot jobs (certs, edge-config) of compose and Kubernetes.
FROM ${PYTHON_IMAGE} AS toolkit
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

# The service image (default): the runtime venv and the checkout, a non-root user.
FROM ${PYTHON_IMAGE} AS service
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 protomesh \
 && useradd --system --uid 10001 --gid protomesh --no-create-home --home-dir /app protomesh \
 && mkdir -p /certs \
 && chown protomesh:protomesh /certs
COPY --from=runtime-venv /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
USER 10001
CMD ["python", "-m", "protomesh.healthcheck", "--help"]
