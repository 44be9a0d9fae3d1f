"""Each service's health port answers ``/metrics``: the process's own figures under
prometheus_client's names and the service's counters, counts as ``_total`` counters and
levels as gauges, in a text prometheus_client's parser reads."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from tasktrail_shared import process_metrics
from tasktrail_shared.health import Exposed, serve_health

PROCESS = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
)


def parsed(text: str) -> dict[str, tuple[str, float]]:
    """Each sample by name: its family's type and its value (one sample per name here)."""
    return {
        s.name: (family.type, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _ready() -> dict[str, bool]:
    return {"nats": True}


def test_the_process_figures_are_this_process_s(tmp_path: Path) -> None:
    found = process_metrics.figures()
    assert found["process_resident_memory_bytes"] > 1_000_000
    assert 0 < found["process_cpu_seconds_total"] < time.process_time() + 1
    assert time.time() - 24 * 3600 * 365 < found["process_start_time_seconds"] <= time.time()
    assert found["process_open_fds"] == len(os.listdir("/proc/self/fd"))
    with (tmp_path / "held").open("w"):
        assert process_metrics.figures()["process_open_fds"] == found["process_open_fds"] + 1


def test_without_proc_the_resource_figures_stand_in(tmp_path: Path) -> None:
    found = process_metrics.figures(tmp_path / "no-proc")
    assert found["process_cpu_seconds_total"] > 0
    assert found["process_resident_memory_bytes"] > 0
    assert found["process_start_time_seconds"] == process_metrics.IMPORTED
    assert "process_open_fds" not in found


def test_counts_are_counters_and_levels_are_gauges() -> None:
    exposed = Exposed("collector", lambda: {"received": 7, "backlog": 3}, {"backlog"})
    found = parsed(exposed.metrics())
    assert found["tasktrail_collector_received_total"] == ("counter", 7)
    assert found["tasktrail_collector_backlog"] == ("gauge", 3)
    for name in PROCESS:
        assert name in found, name
    assert found["process_cpu_seconds_total"][0] == "counter"


async def test_the_health_port_answers_metrics_beside_healthz() -> None:
    counters = {"events": 0}
    server = await serve_health("127.0.0.1", 0, _ready, Exposed("notifier", lambda: counters))
    port = server.sockets[0].getsockname()[1]

    async def get(path: str) -> tuple[str, str]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        answer = (await reader.read()).decode()
        writer.close()
        head, _, body = answer.partition("\r\n\r\n")
        return head, body

    try:
        counters["events"] = 5
        head, body = await get("/metrics")
        assert head.startswith("HTTP/1.1 200") and "text/plain; version=0.0.4" in head
        assert parsed(body)["tasktrail_notifier_events_total"] == ("counter", 5)
        head, body = await get("/healthz")
        assert "application/json" in head and '"events": 5' in body
        head, _ = await get("/nowhere")
        assert head.startswith("HTTP/1.1 404")
    finally:
        server.close()
        await server.wait_closed()
