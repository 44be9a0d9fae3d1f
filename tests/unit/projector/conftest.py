"""Session fixtures for the projector's pure tests."""

from __future__ import annotations

import pytest
from tasktrail_projector.domain.events import Observed

from tests.unit.projector.replay import Replay, fold, recorded_events


@pytest.fixture(scope="session")
def recorded() -> list[Observed]:
    return recorded_events()


@pytest.fixture(scope="session")
def replay() -> Replay:
    return fold
