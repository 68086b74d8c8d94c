# syntax=docker/dockerfile:1
# One image for every service of the platform. The command selects the service, e.g.
#   python -m definition serve | python -m publisher serve | python -m history_sync serve
#   python -m lineage_resolver serve | python -m alerting serve | python -m gateway serve (the default; serves the portal too)
#   platform-provision [all|migrate|wait-migrated|ds-bootstrap]   (see docs/operations.md)
# Each service listens on <PREFIX>HTTP_HOST:<PREFIX>HTTP_PORT (set them to 0.0.0.0 and the service's port).
# Build: docker build -t workflow-platform:dev .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- portal: static files served by the gateway ------------------------------------------------------------------
FROM ${NODE_IMAGE} AS portal
WORKDIR /portal
COPY portal/package.json portal/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY portal/ ./
RUN npm run build

# --- Python workspace from uv.lock --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /app
# Every workspace member's pyproject.toml (uv checks the lock against the whole workspace), then the dependencies
# alone: this layer is rebuilt only when uv.lock or a pyproject.toml changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/definition/pyproject.toml services/definition/
COPY services/publisher/pyproject.toml services/publisher/
COPY services/history-sync/pyproject.toml services/history-sync/
COPY services/lineage-resolver/pyproject.toml services/lineage-resolver/
COPY services/alerting/pyproject.toml services/alerting/
COPY services/gateway/pyproject.toml services/gateway/
COPY tools/devstack/pyproject.toml tools/devstack/
COPY tools/ds-emulator/pyproject.toml tools/ds-emulator/
# The services and the shared library only: the dev tools (devstack, ds-emulator) and the dev group stay out.
ARG PACKAGES="--package platform-common --package definition-service --package publisher-service \
--package history-sync-service --package lineage-resolver-service --package alerting-service --package gateway-service"
# hadolint ignore=SC2086
RUN uv sync --locked --no-dev --no-install-workspace ${PACKAGES}
COPY libs/common/ libs/common/
COPY services/ services/
# Workspace members are installed editable, so each service finds services/<name>/migrations next to its source.
# hadolint ignore=SC2086
RUN uv sync --locked --no-dev ${PACKAGES}

# --- runtime -------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 platform \
    && useradd --system --uid 10001 --gid platform --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin platform
WORKDIR /app
COPY --from=build /app /app
COPY --from=portal /portal/dist /app/portal/dist
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_PORTAL_DIR=/app/portal/dist \
    GATEWAY_HTTP_HOST=0.0.0.0
# The code is owned by root and read-only for the service user. The service identity keys live in a volume at
# /var/lib/platform/identity (docker-compose.yml: written once by `platform-provision identity-keys`).
RUN install -d -o 10001 -g 10001 -m 0700 /var/lib/platform/identity
USER 10001:10001
EXPOSE 8080 8101 8102 8103 8104 8105
CMD ["python", "-m", "gateway", "serve"]
