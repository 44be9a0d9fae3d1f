"""The publisher writes through two private calls of nats-py, and takes acks through a third
(``Client._process_msg``, overridden by ``PublishingClient``, with ``Subscription._id``): fail
here the day they change.

See ``tasktrail_collector.adapters.jetstream_sink.write_pipelined`` and
docs/decisions/0004-pipelined-publishes-through-nats-py-internals.md; the behaviour against a
real server is checked in tests/integration/collector/test_pipelined_publish.py.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from nats.aio.client import Client
from nats.aio.subscription import Subscription

COLLECTOR_PYPROJECT = Path(__file__).parents[3] / "services" / "collector" / "pyproject.toml"


def _parameters(function: Callable[..., object]) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


def test_send_command_still_takes_the_command_bytes() -> None:
    assert inspect.iscoroutinefunction(Client._send_command)
    assert _parameters(Client._send_command) == [
        ("self", inspect.Parameter.empty),
        ("cmd", inspect.Parameter.empty),
        ("priority", False),
    ]


def test_flush_pending_still_needs_no_argument() -> None:
    assert inspect.iscoroutinefunction(Client._flush_pending)
    assert _parameters(Client._flush_pending) == [
        ("self", inspect.Parameter.empty),
        ("force_flush", False),
    ]


def test_process_msg_still_takes_raw_subject_reply_data_and_headers() -> None:
    assert inspect.iscoroutinefunction(Client._process_msg)
    assert [name for name, _ in _parameters(Client._process_msg)] == [
        "self",
        "sid",
        "subject",
        "reply",
        "data",
        "headers",
    ]


def test_a_subscription_still_knows_its_sid() -> None:
    sub = Subscription(Client(), id=7, subject="s")
    assert sub._id == 7


def test_the_installed_nats_py_is_the_version_the_collector_pins() -> None:
    dependencies = tomllib.loads(COLLECTOR_PYPROJECT.read_text())["project"]["dependencies"]
    pins = [m.group(1) for d in dependencies if (m := re.fullmatch(r"nats-py==(\S+)", d))]
    assert pins == [version("nats-py")]
