"""A scheduler process for the tests: an APScheduler 3.x BackgroundScheduler with the
tasktrail listener and one job every second, running until it is killed.

``python tests/integration/api/scheduler_process.py <url> <token> <alias>``
"""

from __future__ import annotations

import sys
import time

from apscheduler.events import EVENT_ALL
from apscheduler.schedulers.background import BackgroundScheduler
from tasktrail_client.apscheduler import TasktrailListener


def tick() -> str:
    return "tick"


def main() -> None:
    url, token, alias = sys.argv[1:4]
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_listener(TasktrailListener(url, token, alias=alias), EVENT_ALL)
    scheduler.add_job(tick, "interval", seconds=1, id="tick")
    scheduler.start()
    print("started", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
