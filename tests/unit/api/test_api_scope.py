"""The pure rules of scoping: the conditions reads get, and where ids are routed."""

from __future__ import annotations

import pytest
from tasktrail_api.domain.errors import NotFound
from tasktrail_api.domain.history import scope_condition
from tasktrail_api.domain.orgs import Directory, route
from tasktrail_api.domain.plan import LIVE, NOTHING, within
from tasktrail_api.domain.principals import DEFAULT_ORG, Principal, Role
from tasktrail_api.domain.scope import EVERYTHING, Scope

ACME = Scope.of("acme", ["a"])
HOME = Scope(DEFAULT_ORG, excluded=frozenset({"a", "b"}))


def test_reads_of_a_single_team_or_root_get_no_condition() -> None:
    for scope in (EVERYTHING, Scope(DEFAULT_ORG)):
        assert within(LIVE, scope) == LIVE
        assert within({**LIVE, "app": "b"}, scope) == {**LIVE, "app": "b"}
    assert scope_condition(EVERYTHING) == {}


def test_reads_of_an_organisation_keep_to_its_clusters() -> None:
    assert within(LIVE, ACME) == {**LIVE, "app": {"$in": ["a"]}}
    assert within(LIVE, HOME) == {**LIVE, "app": {"$nin": ["a", "b"]}}
    assert within({**LIVE, "app": "b"}, ACME) == {**LIVE, "app": NOTHING}
    assert within({**LIVE, "app": "a"}, ACME) == {**LIVE, "app": "a"}


def test_the_history_shows_an_organisation_its_clusters_and_its_own_changes() -> None:
    assert scope_condition(ACME) == {"$or": [{"app": {"$in": ["a"]}}, {"app": None, "org": "acme"}]}
    assert scope_condition(HOME) == {
        "$or": [{"app": {"$nin": ["a", "b", None]}}, {"app": None, "org": DEFAULT_ORG}]
    }


def test_ids_go_to_their_cluster_and_stop_at_the_scope() -> None:
    found = {"t-a": "a", "t-b": "b", "t-none": None}
    assert route(found, ["t-a", "t-none", "new"], EVERYTHING, "home", "task") == {
        "a": ["t-a"],
        "home": ["t-none", "new"],
    }
    assert route(found, ["t-a"], ACME, "home", "task") == {"a": ["t-a"]}
    for wanted in (["t-b"], ["new"], ["t-none"]):  # another's, unknown, of no cluster
        with pytest.raises(NotFound):
            route(found, wanted, ACME, "home", "task")
    with pytest.raises(NotFound):
        route(found, ["new"], HOME, "home", "task")  # narrower than everything: unknown is 404
    assert route(found, ["t-none"], HOME, "home", "task") == {"home": ["t-none"]}


def test_the_directory_gives_the_default_organisation_every_unassigned_cluster() -> None:
    directory = Directory.of(
        [{"_id": "acme", "name": "Acme"}], [{"_id": "a", "org": "acme"}], "home"
    )
    assert directory.scope(Principal("x", Role.viewer)) == Scope(
        DEFAULT_ORG, excluded=frozenset({"a"})
    )
    assert directory.scope(Principal("x", Role.viewer, org=None)) is EVERYTHING
    assert directory.show(DEFAULT_ORG)["clusters"] == ["home"]
    assert directory.show("acme")["clusters"] == ["a"]
    assert directory.visible(Principal("x", Role.viewer, org="gone")) == []
