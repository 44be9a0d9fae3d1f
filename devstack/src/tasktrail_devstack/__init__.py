"""The local stack for development and tests; not a service, never deployed.

``servers``: embedded NATS, MongoDB-wire and Redis; ``processes``: children stopped without
orphans; ``supervision`` (pure) and ``watch``: restarting the children that die; ``demo``: a
Celery app and traffic; ``stack``: ``make run``.
"""
