"""Jinja2 templates of the pages and the fragments live pushes reuse, autoescaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from tasktrail_shared.states import ALL_STATES

from tasktrail_api.domain.principals import Role
from tasktrail_api.ui.commands import ACTIONS, TASK_ACTIONS, WORKER_ACTIONS
from tasktrail_api.ui.present import lifecycle, readable, timeline

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """``params`` with ``changes`` (``None`` drops a key) as a query string."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")}, doseq=True)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        STATES=ALL_STATES,
        ROLES=Role,
        ACTIONS=ACTIONS,
        TASK_ACTIONS=TASK_ACTIONS,
        WORKER_ACTIONS=WORKER_ACTIONS,
        query_string=query_string,
    )
    env.filters.update(
        readable=readable, lifecycle=lifecycle, timeline=timeline, tojson_attr=json.dumps
    )
    return env


ENV = _environment()


def fragment(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def page(template: str, /, **context: Any) -> HTMLResponse:
    return HTMLResponse(fragment(template, **context))


def failed_page(template: str, status_code: int, /, **context: Any) -> HTMLResponse:
    """A page answering a request that failed (login refused, an error)."""
    return HTMLResponse(fragment(template, **context), status_code=status_code)
