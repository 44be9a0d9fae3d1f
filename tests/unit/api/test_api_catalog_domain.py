"""The catalog's pure rules: a run's arguments, its lifecycle, secret keys, and bodies sent
as JSON or as HTML forms."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tasktrail_api.domain import catalog
from tasktrail_api.domain.commands import RunBody
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.forms import FORM, JSON, read_body

LISTS = frozenset({"task_arguments"})


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"state": "PENDING"}, ("ready", "in_progress")),
        ({"state": "RETRY"}, ("ready", "in_progress")),
        ({"state": "RECEIVED"}, ("assigned", "in_progress")),
        ({"state": "STARTED"}, ("started", "in_progress")),
        ({"state": "SUCCESS"}, ("finished", "success")),
        ({"state": "FAILURE", "exception": "ValueError('x')"}, ("finished", "failure")),
        (
            {"state": "FAILURE", "exception": "TimeLimitExceeded(5,)"},
            ("terminated", "timeout"),
        ),
        (
            {
                "state": "FAILURE",
                "exception": "ExceptionWithTraceback()",
                "traceback": "Traceback ...\nbilliard.exceptions.TimeLimitExceeded: "
                "TimeLimitExceeded(1.0,)\n",
            },
            ("terminated", "timeout"),
        ),
        (
            {
                "state": "FAILURE",
                "exception": "ValueError('x')",
                "traceback": "TimeLimitExceeded\nx",
            },
            ("finished", "failure"),
        ),
        ({"state": "REVOKED", "revoke": {"terminated": True}}, ("terminated", "canceled")),
        ({"state": "REVOKED", "started": "2024-01-01"}, ("terminated", "canceled")),
        ({"state": "REVOKED", "revoke": {"expired": True}}, ("expired", "expired")),
        ({"state": "REVOKED"}, ("canceled", "canceled")),
        ({"state": "REJECTED"}, ("canceled", "canceled")),
    ],
)
def test_a_runs_lifecycle_follows_its_tasks_state(doc: dict[str, Any], expected: Any) -> None:
    assert catalog.lifecycle(doc) == expected


@pytest.mark.parametrize(
    ("args", "values"),
    [
        (["a", 1], ["a", 1]),
        ("['a', 1]", ["a", 1]),
        ("('a',)", ["a"]),
        ("['aaaa...']", None),  # cut short by Celery
        ("<object at 0x1>", None),
        ("{'a': 1}", None),
        (None, None),
    ],
)
def test_argument_values_are_read_back_from_celerys_repr(args: Any, values: Any) -> None:
    assert catalog.argument_values(args) == values


def test_typed_arguments_are_converted_and_fixed_ones_filled_in() -> None:
    definitions: list[dict[str, Any]] = [
        {"type": "number", "label": "n"},
        {"type": "json", "label": "j"},
        {"type": "fixed", "value": {"k": 1}},
        {"type": "input", "label": "s"},
    ]
    assert catalog.run_arguments(definitions, ["2.5", '{"a": [1]}', "text"]) == [
        2.5,
        {"a": [1]},
        {"k": 1},
        "text",
    ]
    assert catalog.run_arguments(definitions, [7, [1], 3]) == [7, [1], {"k": 1}, 3]
    assert catalog.run_arguments(None, ["as", "given"]) == ["as", "given"]
    with pytest.raises(BadRequest, match=r"^task_arguments\.0: must be a number"):
        catalog.run_arguments(definitions, ["two", "1", "x"])
    with pytest.raises(BadRequest, match=r"^task_arguments\.0: must be a finite number"):
        catalog.run_arguments(definitions, ["nan", "1", "x"])
    with pytest.raises(BadRequest, match=r"^task_arguments\.1: not JSON"):
        catalog.run_arguments(definitions, ["1", "{", "x"])


def test_a_key_opens_only_its_entry_and_says_why_not_otherwise() -> None:
    key = catalog.new_key()
    assert len(key) == 64 and catalog.KEY.fullmatch(key)
    assert catalog.key_problem(key, key) is None
    assert catalog.key_problem(key, catalog.new_key()) == "wrong key"
    assert catalog.key_problem(key, key[:-1]) == "the key is not 64 characters"
    assert catalog.key_problem(None, key) == "the entry has no key"


def test_a_form_of_the_seeds_html_button_is_read_like_json() -> None:
    body = b"customer=default&task=abc&task_arguments%5B%5D=arg1&task_arguments%5B%5D=arg+2"
    fields = read_body(FORM, body, LISTS)
    assert fields == {"customer": "default", "task": "abc", "task_arguments": ["arg1", "arg 2"]}
    as_json = b'{"customer": "default", "task": "abc", "task_arguments": ["arg1", "arg 2"]}'
    assert read_body(JSON, as_json, LISTS) == fields
    assert read_body(f"{FORM}; charset=utf-8", b"task_arguments=x", LISTS) == {
        "task_arguments": ["x"]
    }
    assert read_body(None, b"  ", LISTS) == {}


def test_the_seeds_curl_example_with_form_fields_under_a_json_type_is_read_as_a_form() -> None:
    # curl --header "Content-Type: application/json" --data-urlencode "customer = acme" ...
    body = b"customer =%20acme&task =%20abc"
    assert read_body(JSON, body, LISTS) == {"customer": "acme", "task": "abc"}


@pytest.mark.parametrize(
    ("content_type", "body", "problem"),
    [
        (JSON, b"[1, 2]", "must be a JSON object"),
        (JSON, b"{oops", "not valid JSON"),
        ("text/plain", b"hello", "send application/json or an HTML form"),
        (FORM, b"customer=a&customer=b", "customer: given more than once"),
        (FORM, b"\xff=1", "not a valid form"),
        (FORM, b"novalue", "not a valid form"),
    ],
)
def test_bodies_that_are_neither_json_nor_a_form_are_refused(
    content_type: str, body: bytes, problem: str
) -> None:
    with pytest.raises(BadRequest, match=problem):
        read_body(content_type, body, LISTS)


def test_the_organisation_or_task_may_be_in_the_path_or_the_body_but_must_agree() -> None:
    assert catalog.one_of("customer", "acme", None) == "acme"
    assert catalog.one_of("customer", None, "acme") == "acme"
    assert catalog.one_of("customer", "acme", "acme") == "acme"
    with pytest.raises(BadRequest, match=r"^customer: the body says 'b', the path 'a'"):
        catalog.one_of("customer", "a", "b")
    with pytest.raises(BadRequest, match=r"^task: required"):
        catalog.one_of("task", None, None)


def test_monitor_runs_may_label_but_not_as_catalog_runs() -> None:
    assert RunBody.model_validate({"name": "x", "labels": {"team": "a"}}).labels == {"team": "a"}
    with pytest.raises(ValidationError, match="origin are given by catalog runs only"):
        RunBody.model_validate({"name": "x", "labels": {"origin": "secret"}})
