"""The base of every model that refuses fields it does not declare.

Request bodies, the payloads of the events the services write, command arguments and
settings all refuse unknown fields: a misspelt field must be an error the sender sees (a 400
from the API, a dead letter in the projector), never a value silently dropped. Declaring that
once, here, keeps the rule and its reason in one place.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ClosedModel(BaseModel):
    """A pydantic model closed to undeclared fields (``extra="forbid"``).

    A subclass may add its own ``model_config`` (examples, aliases); pydantic merges it with
    this one, so the subclass stays closed.
    """

    model_config = ConfigDict(extra="forbid")
