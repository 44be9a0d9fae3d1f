"""Readiness: the API serves reads from MongoDB and commands through NATS."""

from __future__ import annotations

import logging

from tasktrail_api.usecases.ports import CommandSender, ReadModels

log = logging.getLogger(__name__)


class Health:
    def __init__(self, read_models: ReadModels, sender: CommandSender, *, timeout: float) -> None:
        self._read_models = read_models
        self._sender = sender
        self._timeout = timeout

    async def readiness(self) -> dict[str, bool]:
        """Whether each dependency answers: MongoDB to a ping, NATS by its connection."""
        try:
            await self._read_models.ping(self._timeout)
            mongo_ok = True
        except Exception as exc:  # any failure to answer a ping means "not ready"
            log.warning("readiness: MongoDB ping failed: %r", exc)
            mongo_ok = False
        return {"mongo": mongo_ok, "nats": self._sender.connected}
