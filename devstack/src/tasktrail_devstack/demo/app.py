"""The demo Celery app: a handful of tasks covering success, failure, retry, chains and long runs.

Run a worker with ``celery -A tasktrail_devstack.demo.app worker -E``. Configuration comes
from the environment, like the services: ``TASKTRAIL_BROKER_URL`` (required) and
``TASKTRAIL_RESULT_BACKEND`` (optional). Events are switched on from the start (``-E``,
``task_send_sent_event``), since tasktrail sees only what the workers emit.
"""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

# Tasks are registered with ``app.task(...)(fn)`` rather than as decorators: Celery has no
# type hints, and a plain call keeps the functions themselves typed.


def create_app(broker_url: str, result_backend: str | None = None) -> Celery:
    """A Celery app with the demo tasks registered under their ``demo.*`` names."""
    app = Celery("demo", broker=broker_url, backend=result_backend)
    app.conf.update(
        task_send_sent_event=True,
        worker_send_task_events=True,
        task_track_started=True,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        worker_prefetch_multiplier=1,
    )
    app.task(name="demo.add")(add)
    app.task(name="demo.mul")(mul)
    app.task(name="demo.fail")(fail)
    app.task(name="demo.flaky", bind=True, max_retries=3)(flaky)
    app.task(name="demo.sleep")(sleep)
    app.task(name="demo.scan")(scan)
    return app


def add(x: float, y: float) -> float:
    return x + y


def mul(x: float, y: float) -> float:
    return x * y


def fail(msg: str) -> None:
    raise ValueError(msg)


def flaky(self: Any, key: str) -> str:
    """Fails its first run and succeeds on the retry.

    The attempt is counted by ``request.retries``, which travels with the message, so it works
    whichever pool process runs each attempt.
    """
    if self.request.retries < 1:
        raise self.retry(exc=RuntimeError(f"{key}: transient failure"), countdown=1)
    return f"{key}: ok after {self.request.retries} retry"


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def scan(cidr_id: str, port: int) -> str:
    state = "open" if port % 2 else "closed"
    return f"{cidr_id}:{port} {state}"


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} must be set (e.g. redis://127.0.0.1:6390/0)")
    return value


app = create_app(
    _required("TASKTRAIL_BROKER_URL"), os.environ.get("TASKTRAIL_RESULT_BACKEND") or None
)
