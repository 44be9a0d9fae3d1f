"""tasktrail's own events about tasks and workers (``tasktrail.task.*``, ``tasktrail.worker.*``)
as the projector decodes and folds them.

The payloads are defined once in ``tasktrail_shared``; here each is validated against that
contract and normalised (ISO times become millisecond UTC datetimes, states upper case), so
that what a document stores is exactly what a fresh fold derives, and so that a bad event is
refused once, at decoding, with a reason the dead letter keeps. A decoded one is a
:class:`Record`. They are folded like Celery events: a document keeps the latest record under
each name (see :attr:`Record.kept_as`), and per amended field the latest amendment, ordered
by ``(at, envelope id)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from tasktrail_shared import own_events as contract
from tasktrail_shared.catalog import entry_id
from tasktrail_shared.fields import TASK_TIME_FIELDS, TASK_TIMES
from tasktrail_shared.states import parse_state
from tasktrail_shared.times import parse_iso

MAX_SUBJECT = 512
"""Longest task uuid or hostname accepted: it becomes an ``_id``, which indexes cap."""

RECORDED, AMENDED, DELETED, RECONCILED = "recorded", "amended", "deleted", "reconciled"
INSPECTED, UNREACHABLE = "inspected", "unreachable"


class InvalidRecord(ValueError):
    """The record's payload breaks the contract; the text says how."""


@dataclass(frozen=True, slots=True)
class Record:
    """One own event: what it says about one task or worker, and what orders it."""

    target: str
    """``task``, ``worker``, ``token``, ``org`` or ``catalog``."""
    kind: str
    """``recorded``, ``amended``, ``deleted``, ``reconciled``, ``inspected``; ``created``,
    ``revoked``, ``cluster_assigned``; a catalog entry's ``key_rotated``, ``key_refused``."""
    subject: str
    """The task uuid, the worker hostname, the token's name, the organisation's slug, the
    assigned cluster or the catalog entry's id: the document it belongs to."""
    at: float
    actor: str
    data: dict[str, Any]
    envelope_id: str
    app: str

    def key(self) -> tuple[float, str]:
        return (self.at, self.envelope_id)

    @property
    def kept_as(self) -> str:
        """The name a document keeps it under in ``_records``, one latest record per name:
        its kind.

        An inspection that got no answer is kept under a name of its own, so that it does not
        erase what the last answered one reported.
        """
        if self.kind == INSPECTED and not self.data.get("reachable"):
            return UNREACHABLE
        return self.kind

    def stored(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "id": self.envelope_id,
            "app": self.app,
            "actor": self.actor,
            "data": self.data,
        }

    @classmethod
    def from_stored(cls, target: str, kind: str, subject: str, doc: Mapping[str, Any]) -> Record:
        return cls(
            target=target,
            kind=kind,
            subject=subject,
            at=float(doc.get("at") or 0.0),
            actor=str(doc.get("actor") or ""),
            data=dict(doc.get("data") or {}),
            envelope_id=str(doc.get("id") or ""),
            app=str(doc.get("app") or ""),
        )

    @property
    def moment(self) -> datetime:
        return to_ms(datetime.fromtimestamp(self.at, UTC))


def to_ms(moment: datetime) -> datetime:
    """UTC, cut to milliseconds (BSON's precision), as every stored time is."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _time(value: Any) -> datetime | None:
    """A record's ISO 8601 time (the contract checked it) as a millisecond UTC datetime."""
    return None if value is None else to_ms(parse_iso(value))


def _state(value: Any) -> str | None:
    return None if value is None else parse_state(value)


def _task_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Times as datetimes, states as Celery spells them, names sorted (the contract checked
    every name and value: ``tasktrail_shared.own_events``)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in TASK_TIME_FIELDS:
            out[name] = _time(value)
        elif name == "state":
            out[name] = _state(value)
        else:
            out[name] = value
    return dict(sorted(out.items()))


def _subject(value: str, what: str) -> str:
    if not value or len(value) > MAX_SUBJECT:
        raise InvalidRecord(f"{what} must be 1 to {MAX_SUBJECT} characters")
    return value


def _reconciled_state(value: Any) -> str:
    try:
        return parse_state(value)
    except ValueError as exc:
        raise InvalidRecord(f"state {exc}") from exc


def _reconciled_time(value: Any) -> datetime | None:
    try:
        return _time(value)
    except ValueError as exc:
        raise InvalidRecord(f"date_done: {exc}") from exc


SUBJECTS = {
    "task": "uuid",
    "worker": "hostname",
    "token": "name",
    "org.created": "slug",
    "org.cluster_assigned": "app",
}
"""The payload field naming the document a record is about, by target (or target.kind)."""


def _subject_field(target: str, kind: str) -> str:
    return SUBJECTS.get(f"{target}.{kind}") or SUBJECTS[target]


def _catalog_subject(data: Mapping[str, Any]) -> str:
    """The entry a catalog record is about: derived from its cluster and task name, or, for a
    refused key, the id the caller gave (which may name no entry)."""
    if "entry" in data:
        return _subject(data["entry"] or "-", "entry")
    return entry_id(data["app"], data["name"])


def decode_record(event_type: str, payload: Any, envelope_id: str, app: str) -> Record:
    """Validate one record's payload with the shared contract and normalise it."""
    model = contract.PAYLOADS[event_type]
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise InvalidRecord(f"{event_type}: {where}: {first['msg']}") from exc
    data = parsed.model_dump()
    at, actor = float(data.pop("at")), str(data.pop("actor"))
    target, kind = event_type.split(".")[1:3]
    if target == "catalog":
        subject = _catalog_subject(data)
    else:
        field = _subject_field(target, kind)
        subject = _subject(data.pop(field), field)
    if target == "task":
        if kind in (RECORDED, AMENDED):
            data["fields"] = _task_fields(data["fields"])
        elif kind == RECONCILED:
            data["state"] = _reconciled_state(data["state"])
            data["date_done"] = _reconciled_time(data["date_done"])
    elif target == "worker" and kind in (RECORDED, AMENDED):
        data["fields"] = dict(sorted(data["fields"].items()))
    # tokens are audited only (no read model of them is built from the log); organisations
    # and cluster assignments are folded by ``domain.orgs``, catalog records by
    # ``domain.catalog``
    return Record(target, kind, subject, at, actor, data, envelope_id, app)


def load_records(doc: Mapping[str, Any] | None, target: str) -> dict[str, Record]:
    """The latest records a document keeps in ``_records``, by the name each is kept as."""
    held = (doc or {}).get("_records") or {}
    subject = str((doc or {}).get("_id", ""))
    return {
        name: Record.from_stored(target, INSPECTED if name == UNREACHABLE else name, subject, kept)
        for name, kept in held.items()
        if isinstance(kept, Mapping)
    }


def fold_records(current: dict[str, Record], incoming: Iterable[Record]) -> bool:
    """Keep the latest record per name kept as (amendments excepted); True if anything
    changed."""
    changed = False
    for record in incoming:
        if record.kind == AMENDED:
            continue
        held = current.get(record.kept_as)
        if held is None or record.key() > held.key():
            current[record.kept_as] = record
            changed = True
    return changed


def standing(records: Mapping[str, Record], name: str, undone_by: str) -> Record | None:
    """The record kept as ``name``, unless the one kept as ``undone_by`` came after it (a
    delete a later manual record took back, an unanswered inspection a later answer did)."""
    held, later = records.get(name), records.get(undone_by)
    if held is None or (later is not None and later.key() > held.key()):
        return None
    return held


def dump_records(current: Mapping[str, Record]) -> dict[str, Any]:
    return {kind: current[kind].stored() for kind in sorted(current)}


Amendment = dict[str, Any]
"""``{"value", "at", "id", "actor"}``: the latest amendment of one field."""


def load_amendments(doc: Mapping[str, Any] | None) -> dict[str, Amendment]:
    held = (doc or {}).get("_amend") or {}
    return {name: dict(a) for name, a in held.items() if isinstance(a, Mapping)}


def fold_amendments(current: dict[str, Amendment], incoming: Iterable[Record]) -> bool:
    """Per field, keep the value of the latest amendment; True if anything changed."""
    changed = False
    for record in incoming:
        if record.kind != AMENDED:
            continue
        for name, value in record.data["fields"].items():
            held = current.get(name)
            if held is None or record.key() > (held["at"], held["id"]):
                current[name] = {
                    "value": value,
                    "at": record.at,
                    "id": record.envelope_id,
                    "app": record.app,
                    "actor": record.actor,
                }
                changed = True
    return changed


def dump_amendments(current: Mapping[str, Amendment]) -> dict[str, Amendment]:
    return {name: current[name] for name in sorted(current)}


@dataclass(slots=True)
class OwnFacts:
    """What a document keeps of own events: the latest record per name (``_records``) and
    the latest amendment per field (``_amend``).

    Every read model that folds records and amendments loads, folds and stores the two the
    same way; this is that one way.
    """

    records: dict[str, Record]
    amendments: dict[str, Amendment]

    @classmethod
    def load(cls, doc: Mapping[str, Any] | None, target: str) -> OwnFacts:
        return cls(load_records(doc, target), load_amendments(doc))

    def fold(self, incoming: Sequence[Record]) -> bool:
        """Fold records and amendments alike; True if anything changed."""
        changed = fold_records(self.records, incoming)
        return fold_amendments(self.amendments, incoming) or changed

    def stored(self) -> dict[str, Any]:
        """The document's ``_records`` and ``_amend``."""
        return {"_records": dump_records(self.records), "_amend": dump_amendments(self.amendments)}


def record_times(record: Record) -> list[datetime]:
    """Lifecycle times a task record mentions (what stats buckets it may count in)."""
    if record.kind in (RECORDED, AMENDED):
        fields = record.data["fields"]
        return [fields[name] for name in TASK_TIMES if isinstance(fields.get(name), datetime)]
    if record.kind == RECONCILED:
        done = record.data.get("date_done")
        return [done if isinstance(done, datetime) else record.moment]
    return []
