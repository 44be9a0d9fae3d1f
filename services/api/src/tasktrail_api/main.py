"""``tasktrail-api``: serve the API (the default), or manage API tokens and organisations.

    tasktrail-api                                   serve on TASKTRAIL_API_HOST:PORT
    tasktrail-api tokens create --name N --role R [--org S | --root]
                                                    print a new token (shown once)
    tasktrail-api tokens list
    tasktrail-api tokens revoke --name N [--org S]
    tasktrail-api orgs create --slug S --name N
    tasktrail-api orgs assign --slug S --app A      give cluster A to organisation S
    tasktrail-api orgs list

Tokens live in the ``tokens`` collection of ``TASKTRAIL_MONGO_DB`` as sha256 digests;
creating and revoking also write an audit event to the log (so NATS must be reachable).
Organisations are written to the log and read from the projector's read models; the CLI acts
as a root token (actor ``cli``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from tasktrail_shared import logs

from tasktrail_api.adapters.clock import SystemClock
from tasktrail_api.adapters.commands import close_nats, open_nats
from tasktrail_api.adapters.publisher import JetStreamPublisher
from tasktrail_api.adapters.readmodels import MongoReadModels, open_read_models
from tasktrail_api.app import create_app
from tasktrail_api.domain.errors import DomainError
from tasktrail_api.domain.principals import DEFAULT_ORG, ROLE_NAMES, Principal, Role, parse_role
from tasktrail_api.settings import Settings
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.ports import EventPublisher
from tasktrail_api.usecases.tokens import Tokens
from tasktrail_api.usecases.writes import Written

CLI = Principal(name="cli", role=Role.admin, org=None)
"""Whoever runs the CLI can read the database and write the log: root."""

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


@dataclass(frozen=True, slots=True)
class Cli:
    """The use cases the CLI calls, wired over MongoDB (and JetStream for changes)."""

    tokens: Tokens
    orgs: Orgs


def _wire(settings: Settings, store: MongoReadModels, publisher: EventPublisher | None) -> Cli:
    clock = SystemClock()
    orgs = Orgs(store, publisher, clock, default_app=settings.app, wait=settings.api_write_wait)
    return Cli(Tokens(store, publisher, clock, orgs, admin_token=None), orgs)


async def manage(settings: Settings, args: argparse.Namespace) -> int:
    """``tokens`` and ``orgs``: list from MongoDB; change through the log as well."""
    store = open_read_models(settings.mongo_url, settings.mongo_db, settings.api_read_timeout)
    try:
        if args.action == "list":
            await _list(args.command, _wire(settings, store, None))
            return 0
        nc = await open_nats(settings.nats_url, settings.app)
        try:
            publisher = JetStreamPublisher(
                nc, app=settings.app, timeout=settings.api_command_timeout
            )
            return await _change(args, _wire(settings, store, publisher))
        finally:
            await close_nats(nc)
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    finally:
        await store.close()


async def _list(command: str, cli: Cli) -> None:
    if command == "tokens":
        for t in await cli.tokens.list(CLI):
            org = t["org"] or "(root)"
            print(f"{t['name']}\t{t['role']}\t{t['created']}\t{t['created_by'] or ''}\t{org}")
        return
    for org in await cli.orgs.list(CLI):
        print(_org_line(org))


def _org_line(org: dict[str, Any]) -> str:
    clusters = ",".join(org["clusters"]) + (" (and every unassigned)" * org["owns_unassigned"])
    return f"{org['slug']}\t{org['name']}\t{clusters}"


async def _change(args: argparse.Namespace, cli: Cli) -> int:
    match (args.command, args.action):
        case ("tokens", "create"):
            role = parse_role(args.role)
            assert role is not None  # argparse admits role names only
            org = None if args.root else args.org
            secret, _ = await cli.tokens.create(args.name, role.name, CLI, org)
            print(secret)
            print(f"token {args.name!r} ({role.name}, {org or 'root'}) created; it is not "
                  "shown again", file=sys.stderr)  # fmt: skip
        case ("tokens", _):
            await cli.tokens.revoke(args.name, CLI, args.org)
        case ("orgs", "create"):
            return _written(await cli.orgs.create(args.slug, args.name, CLI))
        case _:
            return _written(await cli.orgs.assign(args.slug, args.app, CLI))
    return 0


def _written(outcome: Written) -> int:
    if outcome.shown is not None:
        print(_org_line(outcome.shown))
    elif outcome.accepted is not None:
        print(f"recorded as event {outcome.accepted.id}; not projected yet (is the projector "
              "running?)", file=sys.stderr)  # fmt: skip
    return 0


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="tasktrail-api", description="The tasktrail REST API.")
    commands = cli.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the API (the default)")
    _token_parser(commands.add_parser("tokens", help="create, list and revoke API tokens"))
    _org_parser(commands.add_parser("orgs", help="create and list organisations, give clusters"))
    return cli


def _token_parser(token_cli: argparse.ArgumentParser) -> None:
    actions = token_cli.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a token and print it (once)")
    create.add_argument("--name", required=True, help="unique in its organisation")
    create.add_argument("--role", required=True, choices=ROLE_NAMES, help="user = operator")
    where = create.add_mutually_exclusive_group()
    where.add_argument("--org", default=DEFAULT_ORG, help="its organisation (default: default)")
    where.add_argument("--root", action="store_true", help="a root token: every organisation")
    actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="delete a token")
    revoke.add_argument("--name", required=True)
    revoke.add_argument("--org", help="its organisation (absent: a root or default token)")


def _org_parser(org_cli: argparse.ArgumentParser) -> None:
    actions = org_cli.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an organisation")
    create.add_argument("--slug", required=True, help="its handle: a-z, 0-9, '-', '_'")
    create.add_argument("--name", required=True)
    assign = actions.add_parser("assign", help="give a cluster to an organisation")
    assign.add_argument("--slug", required=True)
    assign.add_argument("--app", required=True, help="the cluster (its TASKTRAIL_APP)")
    actions.add_parser("list", help="list organisations and their clusters")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings()
    if args.command in ("tokens", "orgs"):
        return asyncio.run(manage(settings, args))
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
