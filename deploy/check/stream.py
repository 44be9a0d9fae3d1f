"""The JetStream stream as the compose files configure it: every process that creates or
updates it on start must ask for the same stream (or each start changes it back), and it cannot
have more replicas than there are NATS servers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploy.check.components import Component, settings_of, variable
from deploy.check.compose import image_name
from deploy.check.report import Report

STREAM_SETTINGS = ("stream", "stream_max_age_days", "stream_max_bytes", "stream_replicas")
Running = Mapping[str, tuple[Component, Mapping[str, str]]]
"""Compose service name -> the component it runs and its variables."""


def _settings(running: Running, field: str) -> dict[str, str]:
    """The value of ``field`` in each service that writes the stream."""
    return {
        name: settings_of(component).value(variables, field)
        for name, (component, variables) in running.items()
        if component.writes_stream
    }


def check_stream(
    services: Mapping[str, Mapping[str, Any]], running: Running, report: Report
) -> None:
    for field in STREAM_SETTINGS:
        values = _settings(running, field)
        if len(set(values.values())) > 1:
            detail = ", ".join(f"{name}={value}" for name, value in sorted(values.items()))
            report.problem(f"{variable(field)} differs between services ({detail})")
    servers = sum(image_name(str(s.get("image", ""))) == "nats" for s in services.values())
    for name, replicas in _settings(running, "stream_replicas").items():
        if servers and replicas.isdigit() and int(replicas) > servers:
            report.problem(
                f"service {name!r}: TASKTRAIL_STREAM_REPLICAS={replicas}, but there are only "
                f"{servers} NATS server(s)"
            )
