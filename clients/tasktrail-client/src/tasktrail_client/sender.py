"""Post events to tasktrail from a background thread, never holding up the caller.

:meth:`Sender.submit` appends to a bounded in-memory queue and returns. One daemon thread
posts the queue in order; a post that fails for a reason a retry can fix (no connection, a
timeout, a 5xx) is retried with a growing pause (``retry_min`` to ``retry_max``) and the
queue waits behind it, so nothing is lost while tasktrail is away, up to ``capacity``
events: past that, the oldest are dropped (counted in ``dropped``). A report tasktrail
refuses (4xx) is dropped and logged: sending it again would not help. A retried report is
the same bytes, so tasktrail counts it once even if an earlier attempt did land.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

log = logging.getLogger("tasktrail_client")


def event_url(url: str) -> str:
    """``url`` may be tasktrail's base address or the ``/event`` address itself."""
    url = url.rstrip("/")
    return url if url.endswith("/event") else f"{url}/event"


class Sender:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        capacity: int = 10_000,
        timeout: float = 5.0,
        retry_min: float = 0.2,
        retry_max: float = 5.0,
    ) -> None:
        self.url = event_url(url)
        self._headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self._queue: collections.deque[bytes] = collections.deque()
        self._capacity = capacity
        self._timeout = timeout
        self._retry = (retry_min, retry_max)
        self._lock = threading.Condition()
        self._closed = False
        self._busy = False
        self.sent = 0
        self.refused = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="tasktrail-sender", daemon=True)
        self._thread.start()

    def submit(self, payload: Mapping[str, Any]) -> None:
        """Queue one event; returns at once."""
        data = json.dumps(dict(payload), separators=(",", ":"), default=str).encode()
        with self._lock:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(data)
            self._lock.notify()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + (1 if self._busy else 0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued was posted (or refused); False if time ran out."""
        deadline = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Post what is queued for up to ``timeout`` seconds, then stop the thread."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=1.0)

    def _next(self) -> bytes | None:
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if not self._queue:
                return None
            self._busy = True
            return self._queue.popleft()

    def _run(self) -> None:
        while (data := self._next()) is not None:
            self._deliver(data)
            with self._lock:
                self._busy = False

    def _deliver(self, data: bytes) -> None:
        pause = self._retry[0]
        while True:
            outcome = self._post(data)
            if outcome is not None:
                if outcome:
                    self.sent += 1
                else:
                    self.refused += 1
                return
            with self._lock:
                if self._closed:
                    self._queue.appendleft(data)
                    return
                self._lock.wait(pause)
            pause = min(pause * 2, self._retry[1])

    def _post(self, data: bytes) -> bool | None:
        """True: accepted; False: refused for good (4xx); None: try again later."""
        request = urllib.request.Request(self.url, data=data, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                response.read()
                return True
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                log.warning("tasktrail refused an event (%d): %s", exc.code, exc.read()[:300])
                return False
            return None
        except (OSError, TimeoutError) as exc:
            log.debug("tasktrail unreachable: %s", exc)
            return None
