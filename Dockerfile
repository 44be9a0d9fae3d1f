# syntax=docker/dockerfile:1
# The image of every tasktrail component, chosen by the build argument SERVICE. Build from the
# repository root (the build context):
#
#   docker build --build-arg SERVICE=api --build-arg PORT=8000 -t tasktrail-api .   # PORT: below
#   docker build --build-arg SERVICE=devstack --build-arg DIRECTORY=devstack -t tasktrail-devstack .
#
# Each image holds only its own distribution and tasktrail-shared, installed from uv.lock, runs
# as uid 10001, and is configured only from the environment (TASKTRAIL_*; docs/deployment.md).
# `make deploy-check` checks this file and the compose files against the code.

# The component: api, collector, projector, control, notifier, or the development-only devstack.
ARG SERVICE

# ---- builder: tasktrail-$SERVICE and tasktrail-shared from the workspace lock ----
FROM python:3.11-slim AS builder

ARG UV_VERSION=0.13.9
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install "uv==${UV_VERSION}"

WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/pyproject.toml

# Declared after the steps every component shares, so that their layers are reused.
ARG SERVICE
# The component's workspace member; only the devstack lives outside services/.
ARG DIRECTORY=services/${SERVICE}

# Third-party dependencies first, from the lock and the manifests only, so this layer is reused
# until the lock changes. Other workspace members are not in the context and not needed.
COPY ${DIRECTORY}/pyproject.toml ${DIRECTORY}/pyproject.toml
RUN uv sync --frozen --no-dev --no-editable --no-install-workspace --package tasktrail-${SERVICE}

# Then the two workspace packages themselves, installed as wheels (not editable), so the
# runtime needs nothing but /opt/venv.
COPY shared/ shared/
COPY ${DIRECTORY}/ ${DIRECTORY}/
RUN uv sync --frozen --no-dev --no-editable --package tasktrail-${SERVICE}

# ---- runtime: what every image shares ----
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN groupadd --system --gid 10001 tasktrail \
    && useradd --system --uid 10001 --gid tasktrail --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin tasktrail

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001

# ---- service: what the five service images share: where they listen and how they are probed ----
# Every service listens on all interfaces of its container. One ENV sets the listening host of
# each (a service reads only its own settings' variables); the ports are the settings' defaults:
# api 8000, collector 8001, projector 8002, control 8003, notifier 8004. PORT, passed with
# SERVICE, is that port: exposed, and probed. No curl in slim images: the probe uses python's
# urllib. /readyz answers 503 while a dependency of the service is unreachable.
FROM runtime AS service
ENV TASKTRAIL_API_HOST=0.0.0.0 \
    TASKTRAIL_COLLECTOR_HEALTH_HOST=0.0.0.0 \
    TASKTRAIL_PROJECTOR_HEALTH_HOST=0.0.0.0 \
    TASKTRAIL_CONTROL_HEALTH_HOST=0.0.0.0 \
    TASKTRAIL_NOTIFIER_HEALTH_HOST=0.0.0.0
ARG PORT
# For the probe's shell, which runs in the container: HEALTHCHECK sees no build arguments.
ENV PROBE_PORT=${PORT}
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PROBE_PORT}/readyz', timeout=4)"

# ---- one stage per service: what it runs ----

# The REST API (FastAPI on uvicorn).
FROM service AS api
CMD ["tasktrail-api"]

# Reads Celery events from the broker and publishes them to JetStream.
FROM service AS collector
CMD ["tasktrail-collector"]

# Builds the MongoDB read models from the JetStream log.
FROM service AS projector
CMD ["tasktrail-projector"]

# Executes operator commands with Celery remote control.
FROM service AS control
CMD ["tasktrail-control"]

# Evaluates alert rules over the log, opens and resolves incidents, delivers notifications.
FROM service AS notifier
CMD ["tasktrail-notifier"]

# Development only (the compose `demo` profile): the demo Celery app, run as a worker (this
# command) or as the traffic generator (`python -m tasktrail_devstack.demo.traffic`). The worker
# answers a remote-control ping addressed to its own node name; compose turns the check off for
# the traffic generator, which has no such endpoint.
FROM runtime AS devstack
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD celery -A tasktrail_devstack.demo.app inspect ping --timeout 5 --destination "celery@$HOSTNAME" > /dev/null
CMD ["celery", "-A", "tasktrail_devstack.demo.app", "worker", "-E", "--loglevel=INFO"]

# ---- the image: the stage of the component named by SERVICE ----
FROM ${SERVICE}
