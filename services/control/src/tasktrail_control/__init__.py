"""tasktrail control: operator commands executed on Celery and recorded in the log."""
