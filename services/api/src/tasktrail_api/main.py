"""``tasktrail-api``: serve the API (the default), or manage API tokens.

    tasktrail-api                                   serve on TASKTRAIL_API_HOST:PORT
    tasktrail-api tokens create --name N --role R   print a new token (shown once)
    tasktrail-api tokens list
    tasktrail-api tokens revoke --name N

Tokens live in the ``tokens`` collection of ``TASKTRAIL_MONGO_DB`` as sha256 digests;
creating and revoking also write an audit event to the log (so NATS must be reachable).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence

import uvicorn
from tasktrail_shared import logs

from tasktrail_api.adapters.clock import SystemClock
from tasktrail_api.adapters.commands import close_nats, open_nats
from tasktrail_api.adapters.publisher import JetStreamPublisher
from tasktrail_api.adapters.readmodels import MongoReadModels, open_read_models
from tasktrail_api.app import create_app
from tasktrail_api.domain.errors import DomainError, NotFound
from tasktrail_api.domain.principals import Role
from tasktrail_api.settings import Settings
from tasktrail_api.usecases.ports import EventPublisher
from tasktrail_api.usecases.tokens import Tokens

CLI_ACTOR = "cli"

_ACCESS_TOKEN = re.compile(r"(access_token=)[^&\s]*")


class RedactAccessToken(logging.Filter):
    """``?access_token=`` is a credential: keep it out of the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _ACCESS_TOKEN.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def serve(settings: Settings) -> None:
    logs.setup("tasktrail-api", settings.log_level)
    logging.getLogger("uvicorn.access").addFilter(RedactAccessToken())
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        proxy_headers=True,
        server_header=False,
    )


async def tokens(settings: Settings, args: argparse.Namespace) -> int:
    store = open_read_models(settings.mongo_url, settings.mongo_db, settings.api_read_timeout)
    try:
        if args.action == "list":
            for t in await _tokens(store, None).list():
                print(f"{t['name']}\t{t['role']}\t{t['created']}\t{t['created_by'] or ''}")
            return 0
        nc = await open_nats(settings.nats_url, settings.app)
        try:
            publisher = JetStreamPublisher(
                nc, app=settings.app, timeout=settings.api_command_timeout
            )
            return await _change(_tokens(store, publisher), args)
        finally:
            await close_nats(nc)
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        await store.close()


def _tokens(store: MongoReadModels, publisher: EventPublisher | None) -> Tokens:
    return Tokens(store, publisher, SystemClock(), admin_token=None)


async def _change(use_case: Tokens, args: argparse.Namespace) -> int:
    if args.action == "create":
        secret, _ = await use_case.create(args.name, args.role, CLI_ACTOR)
        print(secret)
        print(f"token {args.name!r} ({args.role}) created; it is not shown again",
              file=sys.stderr)  # fmt: skip
        return 0
    try:
        await use_case.revoke(args.name, CLI_ACTOR)
    except NotFound:
        print(f"no token named {args.name!r}", file=sys.stderr)
        return 1
    return 0


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="tasktrail-api", description="The tasktrail REST API.")
    commands = cli.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (the default)")
    token_cli = commands.add_parser("tokens", help="create, list and revoke API tokens")
    actions = token_cli.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token and print it (once)")
    create.add_argument("--name", required=True, help="a unique name, the handle to revoke it by")
    create.add_argument("--role", required=True, choices=[r.name for r in Role])
    actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="delete a token")
    revoke.add_argument("--name", required=True)
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if args.command == "tokens":
        return asyncio.run(tokens(settings, args))
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
