"""Report scheduler events to tasktrail (``POST /event``): an APScheduler listener
(:mod:`tasktrail_client.apscheduler`) and a Celery beat scheduler
(:mod:`tasktrail_client.celery_beat`), both posting through :class:`Sender`."""

from tasktrail_client.sender import Sender

__all__ = ["Sender"]
