"""Steady demo traffic: successes, failures, retries, chains and the odd long task.

``python -m tasktrail_devstack.demo.traffic`` sends to the broker in ``TASKTRAIL_BROKER_URL``
until SIGINT or SIGTERM. Tasks are sent by name, so any Celery app configured with the same
broker can drive it (see :func:`run`).
"""

from __future__ import annotations

import itertools
import logging
import signal
import threading
import time
from types import FrameType

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

log = logging.getLogger("tasktrail.demo.traffic")

INTERVAL = 0.5
LONG_EVERY = 20.0
LONG_SECONDS = 20


def _send_mix(app: Celery, i: int) -> None:
    """One tick: an add, then one of the other kinds in turn."""
    app.send_task("demo.add", (i, i + 1))
    kind = i % 5
    if kind == 0:
        (app.signature("demo.add", (1, 2)) | app.signature("demo.mul", (3,))).apply_async()
    elif kind == 1:
        app.send_task("demo.fail", (f"demo failure {i}",))
    elif kind == 2:
        app.send_task("demo.flaky", (f"flaky-{i}",))
    elif kind == 3:
        app.send_task("demo.scan", (f"10.0.{i % 256}.0/24", 20 + i % 1000))
    else:
        app.send_task("demo.mul", (i, 2))


def run(
    app: Celery,
    stop_after: float | None = None,
    *,
    stop: threading.Event | None = None,
    interval: float = INTERVAL,
    long_every: float = LONG_EVERY,
) -> int:
    """Send traffic until ``stop`` is set or ``stop_after`` seconds passed; return the ticks."""
    stop = stop or threading.Event()
    started = time.monotonic()
    next_long = started + long_every
    ticks = 0
    for i in itertools.count():
        now = time.monotonic()
        if stop.is_set() or (stop_after is not None and now - started >= stop_after):
            break
        try:
            _send_mix(app, i)
            if now >= next_long:
                app.send_task("demo.sleep", (LONG_SECONDS,))
                next_long = now + long_every
        except Exception:  # a broker hiccup must not end the demo
            log.exception("sending demo traffic failed")
        ticks += 1
        stop.wait(interval)
    return ticks


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from tasktrail_devstack.demo.app import app

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    log.info("sending demo traffic to %s", maybe_sanitize_url(app.conf.broker_url))
    ticks = run(app, stop=stop)
    log.info("stopped after %d ticks", ticks)


if __name__ == "__main__":
    main()
