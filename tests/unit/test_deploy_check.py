"""``deploy.check``: passes on the repository, and names the problem in broken copies of it."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _check_module() -> ModuleType:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module("deploy.check")


check = _check_module()


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files the check reads, and nothing else, copied into a scratch directory."""
    for pattern in check.INPUT_GLOBS:
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


def problems(root: Path) -> list[str]:
    report = check.run(root)
    assert not report.ok, "the check passed on a broken copy"
    found: list[str] = report.problems
    return found


def assert_named(found: list[str], *words: str) -> None:
    assert any(all(w in p for w in words) for p in found), f"no problem names {words}: {found}"


def test_passes_on_the_repository() -> None:
    report = check.run(REPO)
    assert report.problems == []


def test_passes_on_the_copy_it_reads(repo_copy: Path) -> None:
    assert check.run(repo_copy).problems == []


def test_command_line_exit_codes(repo_copy: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "deploy.check", str(repo_copy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "deploy check: ok" in ok.stdout

    edit(repo_copy, "services/api/Dockerfile", "USER 10001:10001\n", "")
    bad = subprocess.run(
        [sys.executable, "-m", "deploy.check", str(repo_copy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "services/api/Dockerfile" in bad.stdout
    assert "USER" in bad.stdout


def test_unknown_environment_variable(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.yaml",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n"
        "      TASKTRAIL_PROJECTOR_BATCH: '10'\n",
    )
    assert_named(problems(repo_copy), "'projector'", "TASKTRAIL_PROJECTOR_BATCH", "not a setting")


def test_environment_variable_of_another_service(repo_copy: Path) -> None:
    # TASKTRAIL_ADMIN_TOKEN is the API's; the collector has no such setting.
    edit(
        repo_copy,
        "services/collector/Dockerfile",
        "    PYTHONUNBUFFERED=1 \\\n",
        "    PYTHONUNBUFFERED=1 \\\n    TASKTRAIL_ADMIN_TOKEN=x \\\n",
    )
    assert_named(problems(repo_copy), "services/collector/Dockerfile", "TASKTRAIL_ADMIN_TOKEN")


def test_scale_override_is_checked_too(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.scale.yaml",
        '  TASKTRAIL_STREAM_REPLICAS: "3"\n',
        '  TASKTRAIL_STREAM_REPLICAS: "3"\n  TASKTRAIL_STREAM_REPLICA: "3"\n',
    )
    assert_named(problems(repo_copy), "compose.scale.yaml", "TASKTRAIL_STREAM_REPLICA ")


def test_stream_replicas_must_agree(repo_copy: Path) -> None:
    # Control would keep shrinking the stream back to one replica on every start.
    edit(
        repo_copy,
        "compose.scale.yaml",
        "  control:\n    environment:\n      <<: *replicated-stream\n",
        "  control:\n    environment:\n      TASKTRAIL_LOG_LEVEL: INFO\n",
    )
    assert_named(problems(repo_copy), "compose.scale.yaml", "TASKTRAIL_STREAM_REPLICAS differs")


def test_stream_replicas_need_as_many_nats_servers(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.yaml",
        'TASKTRAIL_STREAM_REPLICAS: "1"',
        'TASKTRAIL_STREAM_REPLICAS: "3"',
    )
    assert_named(problems(repo_copy), "TASKTRAIL_STREAM_REPLICAS=3", "1 NATS server")


def test_cmd_that_is_not_an_entry_point(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "services/projector/Dockerfile",
        'CMD ["tasktrail-projector"]',
        'CMD ["python", "-m", "tasktrail_projector"]',
    )
    assert_named(problems(repo_copy), "services/projector/Dockerfile", "not a console script")


def test_compose_command_that_is_not_an_entry_point(repo_copy: Path) -> None:
    edit(repo_copy, "compose.yaml", 'command: ["tasktrail-control"]', 'command: ["tasktrail-ctl"]')
    assert_named(problems(repo_copy), "'control'", "tasktrail-ctl", "not a console script")


def test_healthcheck_path_that_is_not_a_route(repo_copy: Path) -> None:
    edit(repo_copy, "services/control/Dockerfile", ":8003/readyz", ":8003/ready")
    assert_named(problems(repo_copy), "services/control/Dockerfile", "/ready,", "not a route")


def test_healthcheck_on_the_wrong_port(repo_copy: Path) -> None:
    # The image still probes 8001 while compose moves the health endpoint to 9001.
    edit(
        repo_copy,
        "compose.yaml",
        "      <<: [*nats-env, *stream-env, *celery-env]\n    depends_on:\n      nats:\n",
        "      <<: [*nats-env, *stream-env, *celery-env]\n"
        "      TASKTRAIL_COLLECTOR_HEALTH_PORT: '9001'\n"
        "    depends_on:\n      nats:\n",
    )
    assert_named(problems(repo_copy), "'collector'", "port 8001", "9001")


def test_dockerfile_copying_another_service(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "services/collector/Dockerfile",
        "COPY shared/ shared/\n",
        "COPY shared/ shared/\nCOPY services/api/ services/api/\n",
    )
    assert_named(problems(repo_copy), "services/collector/Dockerfile", "COPY services/api/")


def test_dockerfile_copying_the_whole_context(repo_copy: Path) -> None:
    edit(repo_copy, "services/control/Dockerfile", "COPY shared/ shared/\n", "COPY . .\n")
    assert_named(problems(repo_copy), "services/control/Dockerfile", "COPY .:")


def test_missing_user(repo_copy: Path) -> None:
    edit(repo_copy, "services/api/Dockerfile", "USER 10001:10001\n", "")
    assert_named(problems(repo_copy), "services/api/Dockerfile", "no USER")


def test_root_user(repo_copy: Path) -> None:
    edit(repo_copy, "devstack/Dockerfile", "USER 10001:10001\n", "USER root\n")
    assert_named(problems(repo_copy), "devstack/Dockerfile", "USER root", "as root")


def _drop_healthcheck(root: Path, rel: str) -> None:
    dockerfile = root / rel
    lines = dockerfile.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("HEALTHCHECK"))
    del lines[start : start + 2]  # the instruction and its continuation line
    dockerfile.write_text("".join(lines))


def test_missing_healthcheck(repo_copy: Path) -> None:
    _drop_healthcheck(repo_copy, "services/projector/Dockerfile")
    assert_named(problems(repo_copy), "services/projector/Dockerfile", "no HEALTHCHECK")


def test_waiting_for_a_service_without_healthcheck(repo_copy: Path) -> None:
    # The demo worker waits for the collector to be healthy.
    _drop_healthcheck(repo_copy, "services/collector/Dockerfile")
    found = problems(repo_copy)
    assert_named(found, "services/collector/Dockerfile", "no HEALTHCHECK")
    assert_named(found, "'worker'", "'collector'", "no health check")


def test_unknown_depends_on(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.yaml",
        "      mongo:\n        condition: service_healthy\n    restart: unless-stopped\n\n"
        "  control:",
        "      mongo:\n        condition: service_healthy\n      postgres:\n"
        "        condition: service_healthy\n    restart: unless-stopped\n\n  control:",
    )
    assert_named(problems(repo_copy), "'projector'", "'postgres'", "not a service")


def test_build_pointing_at_a_missing_dockerfile(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.yaml",
        "dockerfile: services/api/Dockerfile",
        "dockerfile: api.Dockerfile",
    )
    found = problems(repo_copy)
    assert_named(found, "'api'", "api.Dockerfile", "does not exist")
    assert not any("not a tasktrail component" in p for p in found), found


def test_host_not_set_to_listen_on_all_interfaces(repo_copy: Path) -> None:
    edit(repo_copy, "services/api/Dockerfile", "    TASKTRAIL_API_HOST=0.0.0.0 \\\n", "")
    assert_named(problems(repo_copy), "services/api/Dockerfile", "TASKTRAIL_API_HOST=0.0.0.0")


def test_published_port_must_target_the_api_port(repo_copy: Path) -> None:
    edit(repo_copy, "compose.yaml", ":-8000}:8000", ":-8000}:8080")
    assert_named(problems(repo_copy), "'api'", "targets 8080")


def test_dockerignore_must_keep_local_environments_out(repo_copy: Path) -> None:
    (repo_copy / ".dockerignore").write_text("**/__pycache__\n")
    assert_named(problems(repo_copy), ".dockerignore", ".venv/")


def test_invalid_yaml(repo_copy: Path) -> None:
    (repo_copy / "compose.yaml").write_text("services:\n  api: [unclosed\n")
    assert_named(problems(repo_copy), "compose.yaml", "not valid YAML")


def test_setting_value_rejected_by_the_settings_class(repo_copy: Path) -> None:
    edit(
        repo_copy,
        "compose.yaml",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n",
        "      TASKTRAIL_PROJECTOR_DURABLE: ${TASKTRAIL_PROJECTOR_DURABLE:-projector}\n"
        "      TASKTRAIL_PROJECTOR_BATCH_SIZE: many\n",
    )
    assert_named(problems(repo_copy), "'projector'", "rejected", "projector_batch_size")


def test_dockerignore_semantics() -> None:
    ignore = check.DockerIgnore("*\n!shared/\n**/__pycache__\n!keep/**/x.py\n")
    assert ignore.excluded(".venv/bin/python")
    assert ignore.excluded("uv.lock")
    assert not ignore.excluded("shared/src/a.py")
    assert ignore.excluded("shared/src/__pycache__/a.pyc")
    assert not ignore.excluded("keep/a/b/x.py")


def test_compose_merge_follows_override_tags() -> None:
    base = {"services": {"api": {"ports": ["1:1"], "environment": ["A=1"], "command": ["x"]}}}
    over = {
        "services": {
            "api": {"ports": check.Override(["2:1"]), "environment": {"B": "2"}, "command": ["y"]}
        }
    }
    merged = check.merge_files(base, over)["services"]["api"]
    assert merged == {"ports": ["2:1"], "environment": {"A": "1", "B": "2"}, "command": ["y"]}
