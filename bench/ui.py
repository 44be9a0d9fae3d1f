"""Web UI benchmark: the tasks page's time to first byte next to Flower's tasks page over the
same tasks, the live stream fanned out to many browsers with the API's CPU and memory, and
event to visible in headless Chromium (``bench.ui_visible``) with the collector and the
projector running beside the API.

The tasks are loaded as in ``bench.seeded``. The fan-out part opens ``--clients`` event streams
on the tasks page, then publishes change notices naming ``--rate`` task changes per second
(as a projector would after each batch) for ``--seconds``, and reports the pushes each
browser got and the API process's CPU and peak RSS over that time.

    python -m bench.ui                      # N = 20,000 tasks, 50 browsers, 1,000 changes/s
    python -m bench.ui --tasks 100000       # the figure the quality bar names
    python -m bench.ui --no-browser         # without event to visible (no Chromium)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import MongoServer, NatsServer, RedisServer
from tasktrail_shared.changes import ChangeNotice, change_subject

from bench import ui_visible
from bench.api import Task, start_flower
from bench.ingest import cpu_seconds, rss_mb
from bench.seeded import feed_flower, load_mongo, make_tasks, timings


async def fan_out(
    base: str, token: str, nats_url: str, tasks: list[Task], args: argparse.Namespace, pid: int
) -> dict[str, Any]:
    pushes = [0] * args.clients
    reloads = [0]
    async with httpx.AsyncClient(base_url=base, timeout=30) as login:
        await login.post("/ui/login", data={"token": token}, headers={"Origin": base})
        cookies = login.cookies

    async def browser(i: int, stop: asyncio.Event) -> None:
        async with (
            httpx.AsyncClient(base_url=base, cookies=cookies, timeout=None) as client,
            client.stream("GET", "/ui/live?view=tasks") as stream,
        ):
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    pushes[i] += 1
                    reloads[0] += line == "event: reload"
                if stop.is_set():
                    return

    stop = asyncio.Event()
    readers = [asyncio.create_task(browser(i, stop)) for i in range(args.clients)]
    await asyncio.sleep(1.0)
    nc = await nats.connect(nats_url)
    per_batch = max(1, args.rate // 10)
    cpu0, started, peak = cpu_seconds(pid), time.perf_counter(), rss_mb(pid)
    for tick in range(args.seconds * 10):
        batch = tasks[(tick * per_batch) % len(tasks) :][:per_batch]
        notice = ChangeNotice.of("bench", tick, [t.uuid for t in batch], [])
        await nc.publish(change_subject("bench"), notice.model_dump_json().encode())
        peak = max(peak, rss_mb(pid))
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    elapsed = time.perf_counter() - started
    cpu = (cpu_seconds(pid) - cpu0) / elapsed
    stop.set()
    await nc.close()
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    return {
        "clients": args.clients,
        "changes_per_s": per_batch * 10,
        "pushes_per_client_per_s": round(sum(pushes) / len(pushes) / elapsed, 2),
        "fell_behind": reloads[0],
        "api_cpu_percent": round(cpu * 100, 1),
        "api_rss_peak_mb": round(peak, 1),
    }


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.ui", description=__doc__)
    cli.add_argument("--tasks", type=int, default=20_000)
    cli.add_argument("--runs", type=int, default=50, help="requests of each page")
    cli.add_argument("--clients", type=int, default=50)
    cli.add_argument("--rate", type=int, default=1000, help="task changes per second")
    cli.add_argument("--seconds", type=int, default=10)
    cli.add_argument("--no-flower", action="store_true")
    cli.add_argument("--no-browser", action="store_true", help="skip event to visible")
    cli.add_argument("--events", type=int, default=1000, help="events/s for event to visible")
    cli.add_argument("--live-seconds", type=float, default=10.0, help="of events per round")
    cli.add_argument("--rounds", type=int, default=3, help="of event to visible (medians)")
    args = cli.parse_args(argv)
    tasks = make_tasks(args.tasks)
    token = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    print(f"N = {args.tasks:,} tasks; {args.runs} requests per page", flush=True)
    result: dict[str, Any] = {"tasks": args.tasks}
    with (
        MongoServer(workdir / "mongo") as mongo_server,
        NatsServer(workdir / "nats") as nats_server,
        RedisServer(workdir / "redis") as redis_server,
    ):
        load_mongo(mongo_server.url, "bench", tasks)
        env = ui_visible.stack_env(
            mongo_server.url, nats_server.url, redis_server.url, token, workdir
        )
        port = env["TASKTRAIL_API_PORT"]
        api = ServiceProcess(
            "api", [find_binary("tasktrail-api")], log_path=workdir / "api.log", env=env
        )
        base = f"http://127.0.0.1:{port}"
        with api, httpx.Client(base_url=base, timeout=300) as client:
            api.wait_http_ok(f"{base}/readyz", 30)
            client.post("/ui/login", data={"token": token}, headers={"Origin": base})
            p50, p99 = timings(lambda: first_byte(client, "/ui/tasks"), args.runs)
            result["tasks_page_ttfb_ms"] = {"p50": round(p50, 1), "p99": round(p99, 1)}
            print(f"tasktrail /ui/tasks time to first byte: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
            assert api.pid is not None
            result["fan_out"] = asyncio.run(
                fan_out(base, token, nats_server.url, tasks, args, api.pid)
            )
            print(f"live fan-out: {result['fan_out']}", flush=True)
            if not args.no_browser:
                urls = {"nats": nats_server.url, "redis": redis_server.url, "app": "bench"}
                with ui_visible.pipeline(env, workdir):
                    result["event_to_visible"] = ui_visible.measure(
                        base, token, urls, workdir, args.events, args.live_seconds, args.rounds
                    )
                print(f"event to visible: {result['event_to_visible']}", flush=True)
        if not args.no_flower:
            result["flower_tasks_page_ms"] = flower_page(redis_server.url, workdir, tasks, args)
    print(json.dumps(result))


def first_byte(client: httpx.Client, path: str) -> httpx.Response:
    """GET ``path`` until its first byte of body arrives (then let the rest go)."""
    with client.stream("GET", path) as response:
        next(response.iter_raw(), b"")
    return response


def flower_page(
    redis_url: str, workdir: Path, tasks: list[Task], args: argparse.Namespace
) -> dict[str, float]:
    """Flower's tasks page: its HTML, then the first 100 rows its table asks for."""
    flower, port = start_flower(redis_url, workdir, len(tasks))
    table: dict[str, str | int] = {
        "draw": 1, "start": 0, "length": 100, "search[value]": "",
        "order[0][column]": 0, "order[0][dir]": "desc", "columns[0][data]": "name",
    }  # fmt: skip
    with flower, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        feed_flower(redis_url, port, tasks)

        def page() -> httpx.Response:
            client.get("/tasks").raise_for_status()
            return client.get("/tasks/datatable", params=table)

        p50, p99 = timings(page, args.runs)
    print(f"Flower /tasks + first 100 rows: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    return {"p50": round(p50, 1), "p99": round(p99, 1)}


if __name__ == "__main__":
    main()
