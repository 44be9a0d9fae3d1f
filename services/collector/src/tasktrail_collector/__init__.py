"""tasktrail collector: Celery events from the broker into the JetStream log, unchanged."""
