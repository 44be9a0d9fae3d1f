"""Organisations and the clusters they own, as the API reads them: request bodies, the
directory built from the ``orgs`` and ``clusters`` read models, the scope of each caller,
and which cluster a command goes to. Pure.

The default organisation always exists (named "Default") and owns every cluster no other
organisation was given, so an install that never made an organisation behaves as before:
its tokens see everything, with no condition added to any read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.own_events import DEFAULT_ORG

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.principals import Principal, Slug
from tasktrail_api.domain.scope import EVERYTHING, ClusterName, Scope

DEFAULT_NAME = "Default"
Doc = Mapping[str, Any]


class OrgRequest(ClosedModel):
    slug: Slug = Field(description="Lower-case letters, digits, '-' and '_'; the org's handle")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ClusterRequest(ClosedModel):
    app: ClusterName = Field(description="The cluster (TASKTRAIL_APP) to give the organisation")


@dataclass(frozen=True, slots=True)
class Directory:
    """Every organisation and the owner of every cluster that was given to one."""

    orgs: Mapping[str, Doc]
    """By slug; the default organisation is always here."""
    owners: Mapping[str, str]
    """Cluster -> the organisation it was given to last."""
    default_app: str
    """The API's own cluster (``TASKTRAIL_APP``): known even if never given to anyone."""

    @classmethod
    def of(cls, orgs: Iterable[Doc], clusters: Iterable[Doc], default_app: str) -> Directory:
        by_slug: dict[str, Doc] = {DEFAULT_ORG: {"_id": DEFAULT_ORG, "name": DEFAULT_NAME}}
        by_slug.update({str(doc["_id"]): doc for doc in orgs})
        owners = {str(doc["_id"]): str(doc.get("org")) for doc in clusters}
        return cls(by_slug, owners, default_app)

    def owner(self, app: str) -> str:
        return self.owners.get(app, DEFAULT_ORG)

    def scope(self, principal: Principal) -> Scope:
        """What ``principal`` may see: everything for a root token; for the default
        organisation, every cluster but the ones given to others; for any other, its own."""
        if principal.org is None:
            return EVERYTHING
        if principal.org == DEFAULT_ORG:
            others = (app for app, org in self.owners.items() if org != DEFAULT_ORG)
            return Scope(DEFAULT_ORG, excluded=frozenset(others))
        return Scope.of(principal.org, (a for a, o in self.owners.items() if o == principal.org))

    def clusters(self, scope: Scope) -> list[str]:
        """The clusters known here (given to an organisation, or the API's own) that
        ``scope`` sees: where a command that names no worker goes."""
        known = {*self.owners, self.default_app}
        return sorted(app for app in known if scope.allows(app))

    def visible(self, principal: Principal) -> list[str]:
        """The organisations ``principal`` sees: every one for root, else its own."""
        if principal.org is None:
            return sorted(self.orgs)
        return [principal.org] if principal.org in self.orgs else []

    def show(self, slug: str) -> dict[str, Any]:
        """One organisation as the API answers it, with the clusters it owns."""
        doc = self.orgs[slug]
        owns_rest = slug == DEFAULT_ORG
        known = {*self.owners, self.default_app}
        return {
            "slug": slug,
            "name": str(doc.get("name") or slug),
            "clusters": sorted(app for app in known if self.owner(app) == slug),
            "owns_unassigned": owns_rest,
            "created": serializers.plain(doc.get("created")),
            "created_by": doc.get("created_by"),
        }


def choose_cluster(
    scope: Scope, requested: str | None, clusters: Sequence[str], default_app: str
) -> str:
    """The cluster a command about no particular task or worker goes to (``run``,
    ``purge``, a hand-made record): the one asked for if the scope sees it (else NotFound,
    as if it did not exist); otherwise the caller's only cluster, or the API's own if the
    scope sees it; otherwise BadRequest naming the choices."""
    if requested is not None:
        if not scope.allows(requested):
            raise NotFound.named("cluster")
        return requested
    if len(clusters) == 1:
        return clusters[0]
    if scope.allows(default_app):
        return default_app
    if not clusters:
        raise BadRequest.field("app", "the organisation owns no cluster")
    raise BadRequest.field("app", f"give the cluster, one of: {', '.join(clusters)}")


def route(
    found: Mapping[str, str | None],
    wanted: Iterable[str],
    scope: Scope,
    default_app: str,
    noun: str,
) -> dict[str, list[str]]:
    """``wanted`` ids (tasks or workers) grouped by the cluster of the document each names
    (``found``: id -> its ``app``), for a command to each cluster's control.

    An id outside ``scope`` is NotFound, and so is an unknown one unless the scope is
    everything (a root token, or a single team): then it goes to the API's own cluster, as
    before organisations, so a task not yet seen can still be revoked. Either way another
    organisation's id answers exactly as an unknown one.
    """
    routes: dict[str, list[str]] = {}
    for ident in wanted:
        if ident in found and scope.allows(found[ident]):
            app = found[ident] or default_app
        elif ident not in found and scope.is_everything:
            app = default_app
        else:
            raise NotFound(f"{noun} {ident} not found")
        routes.setdefault(app, []).append(ident)
    return routes
