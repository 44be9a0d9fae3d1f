"""``deploy.check``: passes on the repository, and names the problem in broken copies of it."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from deploy.check import run
from deploy.check.compose import SCHEMA, Override, Reset, interpolate, merge

REPO = Path(__file__).resolve().parents[2]
# The files the check reads; a copy of them is a repository as far as the check can tell.
INPUTS = (
    "compose.yaml",
    "compose.scale.yaml",
    ".dockerignore",
    "Dockerfile",
    "pyproject.toml",
    "uv.lock",
    "shared/pyproject.toml",
    "services/*/pyproject.toml",
    "devstack/pyproject.toml",
    "devstack/src/tasktrail_devstack/**/*.py",
)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    for pattern in INPUTS:
        for source in REPO.glob(pattern):
            if source.is_file() and "__pycache__" not in source.parts:
                target = tmp_path / source.relative_to(REPO)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    return tmp_path


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, f"{old!r} not in {rel}: the test no longer matches the file"
    path.write_text(text.replace(old, new, 1))


def assert_named(found: list[str], *words: str) -> None:
    assert any(all(w in p for w in words) for p in found), f"no problem names {words}: {found}"


def test_passes_on_the_repository() -> None:
    assert run(REPO).problems == []


def test_passes_on_the_copy_it_reads(repo_copy: Path) -> None:
    assert run(repo_copy).problems == []


def test_ignores_the_environment_it_runs_in(monkeypatch: pytest.MonkeyPatch) -> None:
    # The values are validated as the compose files give them, not as this shell would.
    monkeypatch.setenv("TASKTRAIL_API_WORKER_TIMEOUT", "9")
    monkeypatch.setenv("TASKTRAIL_STREAM_REPLICAS", "5")
    assert run(REPO).problems == []


def _check_command(root: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "deploy.check", str(root)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)


def test_command_line_exit_codes(repo_copy: Path) -> None:
    ok = _check_command(repo_copy)
    assert (ok.returncode, ok.stdout.splitlines()[-1]) == (0, f"deploy check: ok ({repo_copy})")

    edit(repo_copy, "Dockerfile", "USER 10001:10001\n", "")
    bad = _check_command(repo_copy)
    assert bad.returncode == 1
    assert "Dockerfile (PORT=8000 SERVICE=api): no USER" in bad.stdout


# (file, text in it, replaced by, words one problem must contain)
BROKEN = [
    pytest.param(
        "compose.yaml",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n",
        "      TASKTRAIL_PROJECTOR_BATCH: '10'\n",
        ("compose.yaml: service 'projector'", "TASKTRAIL_PROJECTOR_BATCH", "not a setting"),
        id="compose-unknown-variable",
    ),
    pytest.param(
        "Dockerfile",
        "FROM service AS collector\n",
        "FROM service AS collector\nENV TASKTRAIL_ADMIN_TOKEN=x\n",
        (
            "Dockerfile (PORT=8001 SERVICE=collector): ENV",
            "TASKTRAIL_ADMIN_TOKEN",
            "tasktrail-collector",
        ),
        id="dockerfile-variable-of-another-service",
    ),
    pytest.param(
        "compose.scale.yaml",
        '  TASKTRAIL_STREAM_REPLICAS: "3"\n',
        '  TASKTRAIL_STREAM_REPLICAS: "3"\n  TASKTRAIL_STREAM_REPLICA: "3"\n',
        ("compose.yaml + compose.scale.yaml: service", "TASKTRAIL_STREAM_REPLICA is not"),
        id="override-unknown-variable",
    ),
    pytest.param(
        "compose.yaml",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n",
        "      TASKTRAIL_PROJECTOR_BATCH_SIZE: many\n",
        ("'projector'", "rejected by tasktrail_projector.settings:Settings", "batch_size"),
        id="value-rejected-by-settings",
    ),
    pytest.param(
        "compose.scale.yaml",
        "  control:\n    environment:\n      <<: *replicated-stream\n",
        "  control:\n    environment:\n      TASKTRAIL_LOG_LEVEL: INFO\n",
        ("compose.yaml + compose.scale.yaml", "TASKTRAIL_STREAM_REPLICAS differs", "control=1"),
        id="stream-replicas-disagree",
    ),
    pytest.param(
        "compose.yaml",
        'TASKTRAIL_STREAM_REPLICAS: "1"',
        'TASKTRAIL_STREAM_REPLICAS: "3"',
        ("TASKTRAIL_STREAM_REPLICAS=3", "only 1 NATS server"),
        id="more-replicas-than-nats-servers",
    ),
    pytest.param(
        "Dockerfile",
        'CMD ["tasktrail-projector"]',
        'CMD ["python", "-m", "tasktrail_projector"]',
        (
            "Dockerfile (PORT=8002 SERVICE=projector): CMD",
            "not a console script of tasktrail-projector",
        ),
        id="dockerfile-unknown-console-script",
    ),
    pytest.param(
        "compose.yaml",
        'command: ["tasktrail-control"]',
        'command: ["tasktrail-ctl"]',
        ("service 'control': command", "'tasktrail-ctl' is not a console script"),
        id="compose-unknown-console-script",
    ),
    pytest.param(
        "compose.yaml",
        '"tasktrail_devstack.demo.traffic"]',
        '"tasktrail_devstack.demo.trafic"]',
        ("'traffic'", "module tasktrail_devstack.demo.trafic is not part of tasktrail-devstack"),
        id="devstack-module-it-does-not-ship",
    ),
    pytest.param(
        "Dockerfile",
        "/readyz', timeout=4)",
        "/ready', timeout=4)",
        (
            "Dockerfile (PORT=8003 SERVICE=control): HEALTHCHECK",
            "probes /ready,",
            "not a health route",
        ),
        id="probe-not-a-route",
    ),
    pytest.param(
        "compose.yaml",
        "      <<: [*nats-env, *stream-env, *celery-env]\n",
        "      <<: [*nats-env, *stream-env, *celery-env]\n"
        "      TASKTRAIL_COLLECTOR_HEALTH_PORT: '9001'\n",
        ("service 'collector': HEALTHCHECK of Dockerfile", "probes port 8001", "9001"),
        id="probe-on-another-port-than-compose-sets",
    ),
    pytest.param(
        "Dockerfile",
        "EXPOSE ${PORT}",
        "EXPOSE 8080",
        ("Dockerfile (PORT=8002 SERVICE=projector)", "EXPOSE [8080] leaves out the port 8002"),
        id="port-not-exposed",
    ),
    pytest.param(
        "compose.yaml",
        '        PORT: "8002"\n',
        '        PORT: "8012"\n',
        ("Dockerfile (PORT=8012 SERVICE=projector): HEALTHCHECK", "probes port 8012", "8002"),
        id="build-argument-port-not-the-service-port",
    ),
    pytest.param(
        "compose.yaml",
        ":-8000}:8000",
        ":-8000}:8080",
        ("service 'api': ports", "targets 8080"),
        id="published-port-not-the-api-port",
    ),
    pytest.param(
        "Dockerfile",
        "ENV TASKTRAIL_API_HOST=0.0.0.0 \\\n    ",
        "ENV ",
        ("Dockerfile (PORT=8000 SERVICE=api): ENV", "set TASKTRAIL_API_HOST=0.0.0.0"),
        id="listening-on-loopback-only",
    ),
    pytest.param(
        "Dockerfile",
        'CMD ["tasktrail-api"]',
        "CMD tasktrail-api",
        ("Dockerfile (PORT=8000 SERVICE=api)", "exec form"),
        id="shell-form-cmd",
    ),
    pytest.param(
        "Dockerfile",
        "USER 10001:10001\n",
        "USER root\n",
        ("Dockerfile (DIRECTORY=devstack SERVICE=devstack)", "USER root", "as root"),
        id="root-user",
    ),
    pytest.param(
        "Dockerfile",
        "USER 10001:10001\n",
        "",
        ("Dockerfile (PORT=8003 SERVICE=control): no USER",),
        id="no-user",
    ),
    pytest.param(
        "Dockerfile",
        "HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \\\n",
        "RUN true \\\n",
        ("Dockerfile (DIRECTORY=devstack SERVICE=devstack): no HEALTHCHECK",),
        id="no-healthcheck",
    ),
    pytest.param(
        "Dockerfile",
        "COPY shared/ shared/\n",
        "COPY shared/ shared/\nCOPY services/ services/\n",
        ("Dockerfile:45 (PORT=8000 SERVICE=api): COPY services/:", "may copy only"),
        id="copy-other-services",
    ),
    pytest.param(
        "Dockerfile",
        "COPY shared/ shared/\n",
        "COPY . .\n",
        ("Dockerfile:44 (PORT=8001 SERVICE=collector): COPY .:", "may copy only"),
        id="copy-the-whole-context",
    ),
    pytest.param(
        "Dockerfile",
        "--no-editable --package tasktrail-${SERVICE}",
        "--no-editable --all-packages",
        ("Dockerfile:46 (PORT=8000 SERVICE=api)", "installs every workspace member"),
        id="install-the-whole-workspace",
    ),
    pytest.param(
        "Dockerfile",
        "uv sync --frozen --no-dev --no-editable --package",
        "uv sync --no-dev --no-editable --package",
        ("Dockerfile:46 (PORT=8002 SERVICE=projector)", "without --frozen"),
        id="install-without-the-lock",
    ),
    pytest.param(
        "compose.yaml",
        "        SERVICE: api\n",
        "        SERVICE: apii\n",
        ("service 'api'", "SERVICE='apii' names no component"),
        id="unknown-service-build-argument",
    ),
    pytest.param(
        "compose.yaml",
        "        SERVICE: api\n",
        "        SERVICE: control\n",
        ("service 'api': image tasktrail-api:dev is built with SERVICE=control",),
        id="image-built-for-another-service",
    ),
    pytest.param(
        "compose.yaml",
        "        DIRECTORY: devstack\n",
        "",
        ("Dockerfile:39 (SERVICE=devstack): COPY services/devstack/", "shared/ and devstack/"),
        id="devstack-without-its-directory",
    ),
    pytest.param(
        "compose.yaml",
        '        PORT: "8001"\n',
        '        PORT: "8001"\n      dockerfile: services/collector/Dockerfile\n',
        ("service 'collector': builds ./services/collector/Dockerfile",),
        id="another-dockerfile",
    ),
    pytest.param(
        "compose.yaml",
        "    image: tasktrail-api:",
        '    profiles: ["extra"]\n    image: tasktrail-api:',
        ("service 'api': api runs only under a profile",),
        id="service-only-under-a-profile",
    ),
    pytest.param(
        "compose.yaml",
        "      RABBITMQ_DEFAULT_USER:",
        "      TASKTRAIL_APP: x\n      RABBITMQ_DEFAULT_USER:",
        ("service 'rabbitmq': sets TASKTRAIL_APP, but runs no tasktrail component",),
        id="variable-for-a-service-that-is-not-ours",
    ),
    pytest.param(
        "compose.yaml",
        "    environment:\n      <<: [*nats-env, *mongo-env]\n      TASKTRAIL_APP",
        "    enviroment:\n      <<: [*nats-env, *mongo-env]\n      TASKTRAIL_APP",
        ("compose.yaml: services.api:", "'enviroment' was unexpected"),
        id="schema-violation",
    ),
    pytest.param(
        "compose.scale.yaml",
        "      replicas: 2\n",
        "      replica: 2\n",
        ("compose.scale.yaml: services.collector.deploy:", "'replica' does not match"),
        id="schema-violation-in-the-override",
    ),
    pytest.param(
        "compose.yaml",
        "services:\n",
        "services:\n  api: [unclosed\n",
        ("compose.yaml: cannot be read",),
        id="invalid-yaml",
    ),
    pytest.param(
        ".dockerignore",
        "\n*\n",
        "\n",
        (".dockerignore: does not keep .venv/ out of the build context",),
        id="context-with-local-environments",
    ),
    pytest.param(
        ".dockerignore",
        "**/.env\n",
        "**/.env\nshared/\n",
        ("Dockerfile:44 (PORT=8000 SERVICE=api): COPY shared/ is excluded", ".dockerignore"),
        id="context-without-what-images-copy",
    ),
]


@pytest.mark.parametrize(("rel", "old", "new", "words"), BROKEN)
def test_names_the_problem(
    repo_copy: Path, rel: str, old: str, new: str, words: tuple[str, ...]
) -> None:
    edit(repo_copy, rel, old, new)
    report = run(repo_copy)
    assert not report.ok, "the check passed on a broken copy"
    assert_named(report.problems, *words)


def test_merge_follows_compose() -> None:
    base = {
        "services": {
            "api": {"ports": ["1:1"], "environment": ["A=1"], "command": ["x"], "labels": {}}
        }
    }
    over = {
        "services": {
            "api": {
                "ports": Override(["2:1"]),
                "environment": {"B": "2"},
                "command": ["y"],
                "labels": Reset(),
                "volumes": ["v:/v"],
            }
        }
    }
    merged: dict[str, Any] = merge(base, over)["services"]["api"]
    assert merged == {
        "ports": ["2:1"],
        "environment": {"A": "1", "B": "2"},
        "command": ["y"],
        "volumes": ["v:/v"],
    }
    assert merge({"ports": ["1:1"]}, {"ports": ["2:2"]}) == {"ports": ["1:1", "2:2"]}


def test_interpolation_takes_the_defaults() -> None:
    text = "${A:-x} ${B-y} ${C} $D $$E ${F:--1}"
    assert interpolate({"k": [text]}) == {"k": ["x y   $E -1"]}


def test_vendored_schema_matches_its_manifest() -> None:
    manifest = (SCHEMA.parent / "README.md").read_text()
    recorded = re.search(r"sha256 \| `([0-9a-f]{64})`", manifest)
    assert recorded is not None
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == recorded[1]
