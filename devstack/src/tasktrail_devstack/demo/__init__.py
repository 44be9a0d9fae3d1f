"""A demo Celery app and a traffic generator, so that a fresh stack has something to show."""
