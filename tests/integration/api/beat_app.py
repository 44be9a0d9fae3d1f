"""The Celery app of the beat tests: the demo app (its ``demo.*`` tasks, events on) with two
beat entries, one that succeeds every second and one that raises every two seconds.

Beat and the worker both load it (``celery -A tests.integration.api.beat_app``); the broker
comes from ``TASKTRAIL_BROKER_URL``, tasktrail's address, token and the scheduler's alias
from ``TASKTRAIL_URL``, ``TASKTRAIL_TOKEN`` and ``TASKTRAIL_ALIAS``.
"""

from __future__ import annotations

from tasktrail_devstack.demo.app import app

ENTRIES = {"adds": "demo.add", "fails": "demo.fail"}
app.conf.beat_schedule = {
    "adds": {"task": ENTRIES["adds"], "schedule": 1.0, "args": (2, 3)},
    "fails": {"task": ENTRIES["fails"], "schedule": 2.0, "args": ("card declined",)},
}

__all__ = ["ENTRIES", "app"]
