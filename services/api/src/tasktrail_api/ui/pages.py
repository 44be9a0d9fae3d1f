"""The web UI's pages (``GET /ui/...``): parse, call the same use cases as the REST routes,
within the user's scope (their organisation's clusters), render. A request from htmx for a
part of a page gets only that fragment."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from pydantic import BaseModel, ValidationError

from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.filters import EventFilters, TaskFilters, WorkerFilters, label_filters
from tasktrail_api.domain.principals import Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.shapes import TIME_KEYS
from tasktrail_api.domain.stats import StatsFilters
from tasktrail_api.envelope import describe_validation_errors
from tasktrail_api.ui import interests
from tasktrail_api.ui.live import Interest, LiveHub, stream
from tasktrail_api.ui.present import failure_inbox, workflow
from tasktrail_api.ui.render import fragment, page, query_string
from tasktrail_api.ui.security import Caller, Looking

router = APIRouter(include_in_schema=False)
FOLD_OFFLINE_AFTER = timedelta(minutes=10)
"""Offline workers silent for longer than this are folded away on the workers page."""
TREE_LIMIT = 200
HISTORY_LIMIT = 1000
EXPORT_MAX = 100_000
TIMELINE_JOBS = 50
"""Jobs of a scheduler whose runs its page draws (each costs a query of its runs)."""
ROW_RUNS = 30
"""Runs on each job's strip on the scheduler's page."""
PAGE_RUNS = 100
"""Runs on a job's page, per page."""


def hub(request: Request) -> LiveHub:
    live: LiveHub = request.app.state.ui_hub
    return live


def base(request: Request, who: Caller, nav: str, live: str | None = None) -> dict[str, Any]:
    """What every page's layout needs."""
    return {
        "who": who,
        "csrf": who.csrf,
        "nav": nav,
        "live": live,
        "live_since": hub(request).last_id(),
        "can_operate": who.can(Role.operator),
        "is_admin": who.can(Role.admin),
        "path": request.url.path,
    }


M = TypeVar("M", bound=BaseModel)


def parsed(model: type[M], params: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise BadRequest(describe_validation_errors(exc.errors())[0]) from exc


def list_params(request: Request) -> dict[str, str]:
    """The query string as single values; repeated ``status`` boxes join with commas."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    states = [s for s in request.query_params.getlist("status") if s]
    if states:
        params["status"] = ",".join(states)
    return params


def is_fragment(request: Request, target: str) -> bool:
    return request.headers.get("hx-target") == target


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
async def overview(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    context = await _overview_context(use_cases, who.scope)
    if is_fragment(request, "overview-live"):
        return HTMLResponse(fragment("_overview_live.html", **context))
    return page(
        "overview.html", **base(request, who, "overview", "/ui/live?view=overview"), **context
    )


async def _overview_context(use_cases: UseCasesDep, scope: Scope) -> dict[str, Any]:
    counts = await use_cases.dashboard.get(scope)
    failures = await use_cases.tasks.list(TaskFilters(status="FAILURE", limit=500), {}, scope)
    return {"counts": counts, "inbox": failure_inbox(failures.items)}


SEARCH_SPAN = timedelta(hours=1)
"""The time range free text is searched in when the page gives none (no index holds text:
it is matched among the tasks of one time range, at most ``SET_CAP``)."""


def searched(params: dict[str, str], now: datetime) -> tuple[dict[str, str], str | None]:
    """``params`` with the time range a free-text search needs, when it names none: the last
    :data:`SEARCH_SPAN` on the sort's time; and which field that range went on."""
    if not params.get("q") or any(k.endswith(("_after", "_before")) for k in params):
        return params, None
    key = params.get("sort", "-timestamp").removeprefix("-")
    key = key if key in TIME_KEYS else "timestamp"
    since = (now - SEARCH_SPAN).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {**params, f"{key}_after": since}, key


@router.get("/ui/tasks")
async def tasks(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    params, search_range = searched(list_params(request), datetime.now(UTC))
    shown = {k: v for k, v in params.items() if k != "cursor"}
    context: dict[str, Any] = {
        "params": shown,
        "search_range": search_range,
        "labels": await use_cases.tasks.filterable_labels(),
        "labels_open": any(k.startswith("label.") for k in params),
        "chosen_states": set(params.get("status", "").split(",")) - {""},
        "can_act": who.can(Role.operator),
    }
    status = 200
    try:
        filters = parsed(TaskFilters, params)
        listed = await use_cases.tasks.list(filters, label_filters(request.query_params), who.scope)
    except BadRequest as exc:  # the form stays, with what was wrong
        filters, status = TaskFilters(), 400
        context |= {"problem": exc.message, "tasks": [], "count": 0, "count_is_exact": True,
                    "next_cursor": None, "filters": filters}  # fmt: skip
    else:
        context |= {"tasks": listed.items, "count": listed.count,
                    "count_is_exact": listed.count_is_exact, "next_cursor": listed.next_cursor,
                    "filters": filters}  # fmt: skip
    if is_fragment(request, "task-table"):
        return HTMLResponse(fragment("_task_table.html", **context), status_code=status)
    live = f"/ui/live?{query_string(shown, view='tasks')}"
    response = page("tasks.html", **base(request, who, "tasks", live), **context)
    response.status_code = status
    return response


@router.get("/ui/tasks/export")
async def export_tasks(request: Request, who: Looking, use_cases: UseCasesDep) -> Response:
    """Every task the filters match, one JSON object per line, read a page at a time."""
    params, _ = searched(list_params(request), datetime.now(UTC))
    filters = parsed(TaskFilters, {**params, "limit": 1000, "offset": 0})
    labels = label_filters(request.query_params)

    async def lines() -> AsyncIterator[bytes]:
        cursor, sent = None, 0
        while sent < EXPORT_MAX:
            listed = await use_cases.tasks.list(
                filters.model_copy(update={"cursor": cursor}), labels, who.scope
            )
            yield b"".join(json.dumps(t).encode() + b"\n" for t in listed.items)
            sent += len(listed.items)
            cursor = listed.next_cursor
            if cursor is None:
                return

    headers = {"Content-Disposition": 'attachment; filename="tasks.ndjson"'}
    return StreamingResponse(lines(), media_type="application/x-ndjson", headers=headers)


async def _workflow(
    use_cases: UseCasesDep, task: dict[str, Any], scope: Scope
) -> list[dict[str, Any]]:
    root_id = task.get("root_id") or task["id"]
    filters = TaskFilters(root_id=root_id, limit=TREE_LIMIT)
    members = (await use_cases.tasks.list(filters, {}, scope)).items
    by_id = {t["id"]: t for t in members}
    by_id.setdefault(task["id"], task)
    if root_id not in by_id:
        with contextlib.suppress(NotFound):
            by_id[root_id] = await use_cases.tasks.get(root_id, scope)
    return list(by_id.values())


@router.get("/ui/tasks/{task_id}")
async def task_page(
    request: Request,
    task_id: str,
    who: Looking,
    use_cases: UseCasesDep,
    part: Annotated[str | None, Query(pattern="^(summary|history|tree)$")] = None,
) -> HTMLResponse:
    task = await use_cases.tasks.get(task_id, who.scope)
    history = await use_cases.audit.task_history(
        task_id, EventFilters(limit=HISTORY_LIMIT), who.scope
    )
    members = await _workflow(use_cases, task, who.scope)
    root_id = task.get("root_id") or task["id"]
    context = {
        "task": task,
        "history": history.items,
        "tree": workflow(root_id, members) or workflow(task["id"], members),
        "can_act": who.can(Role.operator),
    }
    if part is not None:
        return HTMLResponse(fragment(f"_task_{part}.html", **context))
    watched = ",".join(sorted(t["id"] for t in members))
    live = f"/ui/live?{query_string({'view': 'task', 'id': task_id, 'watch': watched})}"
    return page("task.html", **base(request, who, "tasks", live), **context)


Rows = list[dict[str, Any]]


def _fold(workers: Rows, now: datetime) -> tuple[Rows, Rows, Rows]:
    """Online, offline lately, and offline for longer than :data:`FOLD_OFFLINE_AFTER`."""
    online: Rows = []
    recent: Rows = []
    folded: Rows = []
    for w in workers:
        if w["status"]:
            online.append(w)
            continue
        beat = w.get("last_heartbeat")
        at = datetime.fromisoformat(beat.replace("Z", "+00:00")) if isinstance(beat, str) else None
        (recent if at is not None and now - at < FOLD_OFFLINE_AFTER else folded).append(w)
    return online, recent, folded


@router.get("/ui/workers")
async def workers(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    listed = await use_cases.workers.list(WorkerFilters(limit=1000), who.scope)
    online, recent, folded = _fold(listed.items, datetime.now(UTC))
    context = {"online": online, "offline": recent, "folded": folded, "count": listed.count}
    return page("workers.html", **base(request, who, "workers", "/ui/live?view=workers"), **context)


@router.get("/ui/workers/{worker_id}")
async def worker_page(
    request: Request, worker_id: str, who: Looking, use_cases: UseCasesDep
) -> HTMLResponse:
    worker, profile = await use_cases.workers.profiled(worker_id, who.scope)
    recent = await use_cases.tasks.list(TaskFilters(worker=worker["name"], limit=20), {}, who.scope)
    context = {"worker": worker, "profile": profile, "tasks": recent.items,
               "can_act": who.can(Role.operator)}  # fmt: skip
    return page("worker.html", **base(request, who, "workers", "/ui/live?view=workers"), **context)


@router.get("/ui/schedulers")
async def schedulers(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    listed = await use_cases.schedules.schedulers(who.scope)
    context = {"schedulers": listed, "show_org": who.scope.org is None}
    return page("schedulers.html", **base(request, who, "schedulers"), **context)


async def _recent_runs(
    use_cases: UseCasesDep, alias: str, job_id: str, scope: Scope
) -> list[dict[str, Any]]:
    runs, _ = await use_cases.schedules.runs(alias, job_id, scope, None, ROW_RUNS)
    return runs


@router.get("/ui/schedulers/{alias}")
async def scheduler_page(
    request: Request, alias: str, who: Looking, use_cases: UseCasesDep
) -> HTMLResponse:
    """The scheduler and its jobs, each with its latest runs as a strip (the first
    :data:`TIMELINE_JOBS` jobs; the others on their own page)."""
    scheduler = await use_cases.schedules.scheduler(alias, who.scope)
    jobs = sorted(
        await use_cases.schedules.jobs(alias, who.scope, None),
        key=lambda j: (not j["active"], str(j["job_id"])),
    )
    recent = await asyncio.gather(
        *(_recent_runs(use_cases, alias, j["job_id"], who.scope) for j in jobs[:TIMELINE_JOBS])
    )
    context = {"scheduler": scheduler, "jobs": jobs, "recent": recent}
    return page("scheduler.html", **base(request, who, "schedulers"), **context)


@router.get("/ui/schedulers/{alias}/jobs/{job_id}")
async def job_page(
    request: Request,
    alias: str,
    job_id: str,
    who: Looking,
    use_cases: UseCasesDep,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> HTMLResponse:
    """The job, its runs on a strip and in a table, :data:`PAGE_RUNS` at a time."""
    job = await use_cases.schedules.job(alias, job_id, who.scope)
    runs, older = await use_cases.schedules.runs(alias, job_id, who.scope, cursor, PAGE_RUNS)
    context = {"alias": alias, "job": job, "runs": runs, "older": older, "cursor": cursor}
    return page("job.html", **base(request, who, "schedulers"), **context)


@router.get("/ui/audit")
async def audit(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    params = list_params(request)
    filters = parsed(EventFilters, params)
    listed = await use_cases.audit.events(filters, who.scope)
    context = {"events": listed.items, "count": listed.count, "params": params, "filters": filters}
    return page("audit.html", **base(request, who, "audit"), **context)


@router.get("/ui/tokens")
async def tokens(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    if not who.can(Role.admin):
        raise NotFound.named("page")
    context = {"tokens": await use_cases.tokens.list(who.principal), "secret": None}
    return page("tokens.html", **base(request, who, "tokens"), **context)


RANGES = {"1h": (timedelta(hours=1), 60), "1d": (timedelta(days=1), 900),
          "7d": (timedelta(days=7), 3600)}  # fmt: skip
"""The ranges of the overview chart and the metrics page: span and step (seconds)."""
RangeParam = Annotated[str, Query(alias="range", pattern="^(1h|1d|7d)$")]


@router.get("/ui/stats")
async def chart_data(
    who: Looking,
    use_cases: UseCasesDep,
    range_: RangeParam = "1h",
) -> JSONResponse:
    """The overview chart's series (uPlot's columns): the same use case as /monitor/stats."""
    span, step = RANGES[range_]
    now = datetime.now(UTC)
    filters = StatsFilters(after=now - span, before=now, step=step)
    steps = (await use_cases.stats.series(filters, who.scope))["steps"]
    times = [datetime.fromisoformat(s["time"].replace("Z", "+00:00")).timestamp() for s in steps]
    succeeded = [s["counts"].get("SUCCESS", 0) for s in steps]
    failed = [s["counts"].get("FAILURE", 0) for s in steps]
    label = {60: "minute", 900: "15 minutes", 3600: "hour"}[step]
    body = {"times": times, "succeeded": succeeded, "failed": failed,
            "total": sum(succeeded) + sum(failed), "step_label": label}  # fmt: skip
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


SLOWEST = 20
"""Tasks the metrics page lists as the slowest of its range."""


@router.get("/ui/metrics")
async def metrics(
    request: Request, who: Looking, use_cases: UseCasesDep, range_: RangeParam = "1h"
) -> HTMLResponse:
    """Per task name over the range: counts, success rate and run-time percentiles from the
    projector's per-minute histograms; and the slowest tasks (the list sorted by run time
    within the range, a shape served up to 10,000 tasks: past that, the page says so)."""
    span, step = RANGES[range_]
    now = datetime.now(UTC)
    rows = await use_cases.stats.by_name(
        StatsFilters(after=now - span, before=now, step=step), who.scope
    )
    since = (now - span).isoformat().replace("+00:00", "Z")
    slowest: list[dict[str, Any]] = []
    limited = None
    try:
        filters = TaskFilters(sort="-runtime", timestamp_after=now - span, limit=SLOWEST)
        slowest = (await use_cases.tasks.list(filters, {}, who.scope)).items
    except BadRequest as exc:
        limited = exc.message
    context = {"rows": rows, "range": range_, "since": since, "slowest": slowest,
               "limited": limited}  # fmt: skip
    return page("metrics.html", **base(request, who, "metrics"), **context)


@router.get("/ui/queues")
async def queues(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    """Each queue's depth, how old the measurement is, and its trend as a small chart (the
    points ride in ``data-trend``: the page runs no inline script)."""
    shown = await use_cases.queues.depths(who.scope)
    for queue in shown:
        points = [
            (datetime.fromisoformat(s["at"].replace("Z", "+00:00")).timestamp(), s["depth"])
            for s in queue["trend"]
        ]
        queue["spark"] = json.dumps({"t": [t for t, _ in points], "d": [d for _, d in points]})
    return page("queues.html", queues=shown, **base(request, who, "queues"))


def _interest(
    view: str, params: Mapping[str, str], request: Request, who: Caller, use_cases: UseCasesDep
) -> Interest:
    if view == "tasks":
        shown = {k: v for k, v in params.items() if k not in ("view", "since")}
        filters = parsed(TaskFilters, shown)
        labels = label_filters(request.query_params)
        return interests.TaskList(
            use_cases, filters, labels, query_string(shown), who.can(Role.operator), who.scope
        )
    if view == "task":
        task_id = params.get("id") or ""
        watched = frozenset(filter(None, (params.get("watch") or "").split(","))) | {task_id}
        return interests.OneTask(task_id, watched)
    if view == "workers":
        return interests.WorkerList(use_cases, who.scope)
    if view == "overview":
        return interests.Overview()
    raise BadRequest.field("view", "tasks, task, workers or overview")


@router.get("/ui/live")
async def live(request: Request, who: Looking, use_cases: UseCasesDep) -> StreamingResponse:
    """The page's Server-Sent Events; ``since`` (the first time) or ``Last-Event-ID`` (after
    a reconnect) say what the page has already seen."""
    params = list_params(request)
    interest = _interest(params.get("view", ""), params, request, who, use_cases)
    seen = request.headers.get("last-event-id") or params.get("since")
    live_hub = hub(request)
    sub = await live_hub.subscribe(interest, seen)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(live_hub, sub), media_type="text/event-stream", headers=headers)
