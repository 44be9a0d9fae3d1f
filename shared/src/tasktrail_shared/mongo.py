"""MongoDB adapter: one async client per process, and the read-model collection names."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

TASKS = "tasks"
WORKERS = "workers"
TASK_EVENTS = "task_events"
DEAD_LETTERS = "dead_letters"
CHECKPOINTS = "checkpoints"


def client(url: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)
