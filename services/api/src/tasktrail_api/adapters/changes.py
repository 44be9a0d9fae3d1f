"""The projector's change notices (``tasktrail.changes.>``, core NATS) handed to a callback."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from pydantic import ValidationError
from tasktrail_shared.changes import ChangeNotice, all_change_subjects

log = logging.getLogger(__name__)


class ChangeFeed:
    """Subscribes to every cluster's change notices on the API's NATS connection."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._subscription: Subscription | None = None

    async def start(self, take: Callable[[ChangeNotice], None]) -> None:
        async def received(msg: Msg) -> None:
            try:
                notice = ChangeNotice.model_validate_json(msg.data)
            except ValidationError as exc:
                log.debug("unreadable change notice on %s: %s", msg.subject, exc)
                return
            take(notice)

        self._subscription = await self._nc.subscribe(all_change_subjects(), cb=received)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(NatsError):
                await self._subscription.unsubscribe()
