"""Labels: rules read values out of Celery's repr strings, safely, and land on task documents."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from tasktrail_projector.domain.labels import Opaque, Rule, Unreadable, extract, parse_literal
from tasktrail_projector.settings import Settings

from tests.unit.projector.builders import event, record
from tests.unit.projector.replay import fold

SEED_ARGS = (
    "('c87d1631-4ac5-4cd5-a0c5-ea3e7c8b0bbc', [{'packet': UUID('209c14f7-b36f-4efb-8b72-"
    "e45ce612bd85'), 'ports': [{'number': 8800, 'proto': 'http'}]}], None)"
)
RULES = [
    Rule.parse("cidr_id", "scan.tasks.*", arg=0),
    Rule.parse("packet", "scan.tasks.*", arg="1.0.packet"),
    Rule.parse("first_port", "scan.tasks.*", arg="1.0.ports.0.number"),
    Rule.parse("asn_number", "scan.*", kwarg="asn"),
    Rule.parse("asn_id", "scan.*", kwarg="asn_info.id"),
]


def test_celery_reprs_parse_without_evaluating_anything() -> None:
    value = parse_literal(SEED_ARGS)
    assert value[0] == "c87d1631-4ac5-4cd5-a0c5-ea3e7c8b0bbc"
    assert value[1][0]["packet"] == "209c14f7-b36f-4efb-8b72-e45ce612bd85"  # UUID('…')
    assert value[2] is None
    assert parse_literal("{'n': -5, 'x': (1, 2.5), 's': {3}, 'e': ...}") == {
        "n": -5,
        "x": [1, 2.5],
        "s": [3],
        "e": None,
    }
    assert parse_literal("[Decimal('1.5'), datetime.datetime(2022, 8, 30)]") == [
        "1.5",
        Opaque("datetime.datetime(2022, 8, 30)"),
    ]
    assert parse_literal("[os.system('rm -rf /')]") == [Opaque("os.system('rm -rf /')")]


@pytest.mark.parametrize(
    "text", ["(1, 2", "{**x}", "[" * 5000 + "]" * 5000, "x" * 70_000, "{[1]: 2}", "-'a'"]
)
def test_unreadable_text_is_refused(text: str) -> None:
    with pytest.raises(Unreadable):
        parse_literal(text)


def test_rules_pick_values_by_position_path_and_keyword() -> None:
    kwargs = "{'asn': 64500, 'asn_info': {'id': 'a-1'}}"
    labels = extract(RULES, "scan.tasks.port_enumerate", SEED_ARGS, kwargs)
    assert labels == {
        "cidr_id": "c87d1631-4ac5-4cd5-a0c5-ea3e7c8b0bbc",
        "packet": "209c14f7-b36f-4efb-8b72-e45ce612bd85",
        "first_port": 8800,
        "asn_number": 64500,
        "asn_id": "a-1",
    }
    assert extract(RULES, "other.task", SEED_ARGS, kwargs) == {}
    assert extract(RULES, "scan.other", SEED_ARGS, kwargs) == {"asn_number": 64500, "asn_id": "a-1"}


def test_missing_unreadable_or_unsuitable_values_give_no_label() -> None:
    assert extract(RULES, "scan.tasks.x", "(1, 2", "{'asn': 1}") == {"asn_number": 1}
    assert extract(RULES, "scan.tasks.x", "()", "{}") == {}
    assert extract(RULES, "scan.tasks.x", "([1], [[2]])", "{'asn': [1]}") == {}  # containers
    assert extract(RULES, "scan.tasks.x", "(None,)", "{'asn': 2**70}") == {}
    assert extract(RULES, None, SEED_ARGS, "{}") == {}
    # structured args (from a manual record) are used as they are
    assert extract(RULES, "scan.tasks.x", ["c1", [{"packet": "p"}]], {"asn": 7}) == {
        "cidr_id": "c1",
        "packet": "p",
        "asn_number": 7,
    }


def test_first_rule_with_a_value_wins() -> None:
    rules = [Rule.parse("who", "*", kwarg="user"), Rule.parse("who", "*", arg=0)]
    assert extract(rules, "t", "('pos',)", "{}") == {"who": "pos"}
    assert extract(rules, "t", "('pos',)", "{'user': 'kw'}") == {"who": "kw"}


def test_labels_land_on_the_task_flat_with_top_level_seed_copies() -> None:
    sent = event(
        "task-sent", 1.0, name="scan.tasks.port_enumerate", args=SEED_ARGS, kwargs="{'asn': 64500}"
    )
    doc = fold([[sent]], RULES)[0]["t1"]
    assert doc["labels"]["cidr_id"] == doc["cidr_id"] == "c87d1631-4ac5-4cd5-a0c5-ea3e7c8b0bbc"
    assert doc["asn_number"] == 64500 and doc["cidr_ip_network"] is None
    fix = record("task.amended", 5.0, uuid="t1", fields={"cidr_ip_network": "10.0.0.0/8"})
    drop = record("task.amended", 6.0, uuid="t1", fields={"asn_number": None})
    doc = fold([[sent, fix, drop]], RULES)[0]["t1"]
    assert doc["cidr_ip_network"] == "10.0.0.0/8" and doc["asn_number"] is None
    assert "asn_number" not in doc["labels"]


def test_rules_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = [
        {"label": "cidr_id", "task": "scan.tasks.*", "arg": 0},
        {"label": "asn_number", "task": "scan.*", "kwarg": "asn"},
        {"label": "packet", "task": "scan.tasks.*", "arg": "1.0.packet"},
    ]
    monkeypatch.setenv("TASKTRAIL_PROJECTOR_LABELS", json.dumps(rules))
    settings = Settings()
    assert settings.label_names() == ["asn_number", "cidr_id", "packet"]
    assert settings.label_rules()[2] == Rule("packet", "scan.tasks.*", "args", (1, 0, "packet"))


@pytest.mark.parametrize(
    "rule",
    [
        {"label": "x", "arg": 0, "kwarg": "y"},
        {"label": "x"},
        {"label": "x", "arg": "a.b"},
        {"label": "bad name", "arg": 0},
        {"label": "x", "kwarg": "a..b"},
        {"label": "x", "arg": 0, "extra": 1},
    ],
)
def test_bad_rules_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, rule: dict[str, object]
) -> None:
    monkeypatch.setenv("TASKTRAIL_PROJECTOR_LABELS", json.dumps([rule]))
    with pytest.raises(ValidationError):
        Settings()
