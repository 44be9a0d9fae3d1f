"""Static checks of the deployment files against the code, with no container engine.

    python -m deploy.check [ROOT]        (make deploy-check)

Reads ``compose.yaml`` (and ``compose.scale.yaml`` merged over it, as ``docker compose -f
compose.yaml -f compose.scale.yaml`` does), the ``Dockerfile`` with the build arguments each
compose service builds it with, and ``.dockerignore``. Generic validation is left to the
libraries (the Compose Specification's schema, dockerfile-parse, Docker's ignore-file
matching); the rules here are tasktrail's own:

* each compose file is valid against the Compose Specification;
* each tasktrail service is built from the repository's Dockerfile with the build argument
  SERVICE naming a component, its image named after it; the five services all run, without a
  profile;
* every TASKTRAIL_* variable set in a compose file or the Dockerfile is a field of the
  Settings class of the component it is given to (the Dockerfile may also set where the other
  services listen), and that class accepts the values;
* commands are console scripts of the component (``[project.scripts]``);
* a service listens on all interfaces of its container, its health check probes ``/healthz``
  or ``/readyz`` on the port its settings give (a shell-form probe with its variables expanded),
  the image exposes that port, and compose publishes it;
* an image runs as a non-root user, has a HEALTHCHECK, installs only its own distribution
  (with tasktrail-shared) from ``uv.lock``, and copies from the build context only the root
  manifests, ``shared/`` and its own directory;
* the build context keeps local environments out; the services that write the stream agree
  on its settings, with no more replicas than NATS servers.

Prints one line per problem; exits 1 if there is any, else 0. Compose ``${VAR:-default}``
references are read with their defaults, so the result does not depend on the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from deploy.check.compose import load, merge, plain, schema_problems
from deploy.check.context import read_build_context
from deploy.check.dockerfile import DOCKERFILE
from deploy.check.images import Builds
from deploy.check.report import Report
from deploy.check.services import check_services

COMPOSE = "compose.yaml"
COMPOSE_SCALE = "compose.scale.yaml"


def _read_compose(path: Path, report: Report) -> Any:
    """The file's content with its tags (None if unreadable or against the schema)."""
    try:
        data = load(path)
    except (OSError, yaml.YAMLError) as exc:
        report.problem(f"{path.name}: cannot be read: {' '.join(str(exc).split())}")
        return None
    problems = schema_problems(plain(data))
    for problem in problems:
        report.problem(f"{path.name}: {problem}")
    return None if problems else data


def compose_models(root: Path, report: Report) -> list[tuple[str, dict[str, Any]]]:
    """What ``docker compose`` runs: compose.yaml, and it merged with compose.scale.yaml."""
    base = _read_compose(root / COMPOSE, report)
    if base is None:
        return []
    models = [(COMPOSE, plain(base))]
    if (root / COMPOSE_SCALE).is_file():
        over = _read_compose(root / COMPOSE_SCALE, report)
        if over is not None:
            models.append((f"{COMPOSE} + {COMPOSE_SCALE}", merge(plain(base), over)))
    return models


def run(root: Path) -> Report:
    root = root.resolve()
    report = Report()
    if not (root / DOCKERFILE).is_file():
        report.problem(f"{DOCKERFILE}: missing")
        return report
    builds = Builds(root, read_build_context(root, report), report)
    seen: set[str] = set()  # a problem of compose.yaml is not said again for the merged model
    for label, model in compose_models(root, report):
        for problem in check_services(root, model, builds):
            if problem not in seen:
                seen.add(problem)
                report.problem(f"{label}: {problem}")
    return report
