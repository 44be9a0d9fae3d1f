"""Change notices on core NATS (``tasktrail.changes.<app>``): fire and forget."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from nats.aio.client import Client
from nats.errors import Error as NatsError
from tasktrail_shared.changes import ChangeNotice, change_subject

log = logging.getLogger("tasktrail.projector")


class NatsChangeNotifier:
    """Implements :class:`tasktrail_projector.ports.ChangeNotifier` over a NATS connection."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc

    async def notify(self, notices: Sequence[ChangeNotice]) -> None:
        for notice in notices:
            try:
                await self._nc.publish(
                    change_subject(notice.app), notice.model_dump_json().encode()
                )
            except NatsError as exc:  # readers reload by themselves when they miss notices
                log.debug("change notice for %s not sent: %r", notice.app, exc)
