"""The envelope, the validation message, the middleware, settings and the CLI, without servers."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send
from tasktrail_api.envelope import describe_validation_errors
from tasktrail_api.main import RedactAccessToken
from tasktrail_api.middleware import StripTrailingSlash
from tasktrail_api.settings import Settings


def test_validation_messages_name_the_field() -> None:
    message, details = describe_validation_errors(
        [
            {"loc": ("query", "limit"), "msg": "Input should be less than or equal to 1000"},
            {"loc": ("body", "ides", 0), "msg": "String should have at least 1 character"},
        ]
    )
    assert message == (
        "limit: Input should be less than or equal to 1000; "
        "ides.0: String should have at least 1 character"
    )
    assert details[0] == {"field": "limit", "in": "query", "msg": details[0]["msg"]}


async def run(path: str, raw_path: bytes | None = None) -> Scope:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    scope: Scope = {"type": "http", "path": path}
    if raw_path is not None:
        scope["raw_path"] = raw_path
    await StripTrailingSlash(app)(scope, receive, send)
    return seen


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/monitor/tasks/", "/monitor/tasks"), ("/monitor/tasks", "/monitor/tasks"), ("/", "/")],
)
async def test_one_trailing_slash_is_dropped(path: str, expected: str) -> None:
    scope = await run(path, path.encode())
    assert scope["path"] == expected
    assert scope["raw_path"] == expected.encode()


def test_control_must_get_time_to_answer() -> None:
    with pytest.raises(ValidationError, match="WORKER_TIMEOUT"):
        Settings(api_command_timeout=2, api_worker_timeout=2)


def test_the_access_log_does_not_show_query_tokens() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/monitor/tasks?status=x&access_token=s3cret&limit=1", "1.1", 200),
        None,
    )  # fmt: skip
    assert RedactAccessToken().filter(record)
    assert "s3cret" not in record.getMessage()
    assert "access_token=***&limit=1" in record.getMessage()


async def call_limited(
    limit: int, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> list[Message]:
    from starlette.exceptions import HTTPException
    from tasktrail_api.middleware import LimitBody

    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except HTTPException as exc:
            await send({"type": "raised", "status": exc.status_code})
            return
        await send({"type": "http.response.start", "status": 200})

    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    await LimitBody(app, limit)(scope, receive, send)
    return sent


async def test_a_declared_oversized_body_is_413_before_reading() -> None:
    sent = await call_limited(10, [b"x" * 11], [(b"content-length", b"11")])
    assert sent[0]["status"] == 413
    assert b'"err_code":413' in sent[1]["body"]


async def test_a_streamed_oversized_body_is_413_while_reading() -> None:
    sent = await call_limited(10, [b"x" * 6, b"x" * 6], [])
    assert sent == [{"type": "raised", "status": 413}]
    assert (await call_limited(10, [b"x" * 5, b"x" * 5], []))[0]["status"] == 200


async def test_a_bad_content_length_is_400() -> None:
    assert (await call_limited(10, [b""], [(b"content-length", b"-1")]))[0]["status"] == 400


def test_the_cli_serves_by_default_and_manages_tokens() -> None:
    from tasktrail_api.main import parser

    assert parser().parse_args([]).command is None
    args = parser().parse_args(["tokens", "create", "--name", "ci", "--role", "operator"])
    assert (args.command, args.action, args.name, args.role) == (
        "tokens",
        "create",
        "ci",
        "operator",
    )
    with pytest.raises(SystemExit):
        parser().parse_args(["tokens", "create", "--name", "ci", "--role", "root"])
