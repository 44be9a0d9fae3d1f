"""One alert rule's notifications, firing then resolved, as the notifier's channel tests send
them: the formats' unit tests and the transports' integration tests check the same bodies."""

from __future__ import annotations

from tasktrail_notifier.domain.formats import Notice

RULE = {"id": "r1", "name": "failures", "kind": "task_failed"}
INCIDENT = {
    "id": "inc-1", "key": "demo.add", "app": "c1", "started_at": "2030-01-01T00:00:00Z",
    "resolved_at": None,
}  # fmt: skip
FIRING = Notice(id="n1", status="firing", rule=RULE, incident=INCIDENT)
RESOLVED = Notice(
    id="n2", status="resolved", rule=RULE,
    incident={**INCIDENT, "resolved_at": "2030-01-01T00:05:00Z"},
)  # fmt: skip
