"""The only control modules that import celery and nats."""
