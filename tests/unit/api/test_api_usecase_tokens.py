"""Tokens and readiness through the service layer."""

from __future__ import annotations

import pytest
from tasktrail_api.domain.errors import Conflict, NotFound, Unauthorized, Unavailable
from tasktrail_api.domain.principals import DEFAULT_ORG, Principal, Role
from tasktrail_api.usecases.tokens import Tokens
from tasktrail_shared import own_events

from tests.unit.api.fakes import ADMIN, NOW, FakeTokenStore, FixedClock, World


@pytest.fixture
def world() -> World:
    return World()


async def test_a_created_token_identifies_its_holder_and_is_audited(world: World) -> None:
    secret, shown = await world.use_cases.tokens.create("ci", "operator", ADMIN, DEFAULT_ORG)
    assert shown == {"name": "ci", "org": "default", "role": "operator",
                     "created": "2024-05-01T12:00:00.000000Z", "created_by": "root"}  # fmt: skip
    assert await world.use_cases.tokens.identify(secret) == Principal("ci", Role.operator)
    [(event_type, payload)] = world.publisher.published
    assert (event_type, payload) == (
        own_events.TOKEN_CREATED,
        {
            "at": NOW.timestamp(),
            "actor": "root",
            "name": "ci",
            "role": "operator",
            "org": "default",
        },
    )
    assert secret not in str(world.token_store.tokens)  # only its digest is kept


async def test_the_admin_token_and_unknown_tokens(world: World) -> None:
    assert await world.use_cases.tokens.identify("adm1n") == Principal(
        "admin", Role.admin, org=None
    )
    with pytest.raises(Unauthorized, match="invalid token"):
        await world.use_cases.tokens.identify("nope")


async def test_a_token_whose_audit_event_fails_is_not_kept(world: World) -> None:
    world.publisher.failing = True
    with pytest.raises(Unavailable):
        await world.use_cases.tokens.create("ci", "viewer", ADMIN, DEFAULT_ORG)
    assert world.token_store.tokens == {}


async def test_names_are_unique(world: World) -> None:
    await world.use_cases.tokens.create("ci", "viewer", ADMIN, DEFAULT_ORG)
    with pytest.raises(Conflict, match="revoke it first"):
        await world.use_cases.tokens.create("ci", "admin", ADMIN, DEFAULT_ORG)


async def test_a_revocation_stands_even_unaudited(world: World) -> None:
    secret, _ = await world.use_cases.tokens.create("ci", "viewer", ADMIN, DEFAULT_ORG)
    world.publisher.failing = True
    await world.use_cases.tokens.revoke("ci", ADMIN, None)
    with pytest.raises(Unauthorized):
        await world.use_cases.tokens.identify(secret)
    with pytest.raises(NotFound, match="token not found"):
        await world.use_cases.tokens.revoke("ci", ADMIN, None)
    assert await world.use_cases.tokens.list(ADMIN) == []


async def test_without_an_event_log_tokens_are_read_only(world: World) -> None:
    store = FakeTokenStore()
    tokens = Tokens(store, None, FixedClock(), world.use_cases.orgs, admin_token=None)
    with pytest.raises(Unavailable, match="audited"):
        await tokens.create("ci", "viewer", ADMIN, DEFAULT_ORG)
    assert store.tokens == {} and await tokens.list(ADMIN) == []


async def test_readiness_asks_each_dependency(world: World) -> None:
    assert await world.use_cases.health.readiness() == {"mongo": True, "nats": True}
    world.read_models.reachable = False
    world.sender.connected = False
    assert await world.use_cases.health.readiness() == {"mongo": False, "nats": False}
