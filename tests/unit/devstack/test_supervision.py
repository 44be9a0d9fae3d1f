"""The restart policy of ``make run``, driven by a made-up clock."""

from __future__ import annotations

import pytest
from tasktrail_devstack.supervision import (
    GiveUp,
    Restart,
    RestartPolicy,
    State,
    Supervisor,
    describe,
    exit_reason,
)

POLICY = RestartPolicy(first_delay=0.5, factor=2.0, max_delay=4.0, stable_after=30.0)


def test_delays_double_up_to_the_cap() -> None:
    assert [POLICY.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_crash_is_restarted_after_the_delay_and_only_then() -> None:
    sup = Supervisor(POLICY)
    sup.started("projector", now=100.0)
    sup.started("api", now=100.0)
    decision = sup.exited("projector", now=112.0)
    assert decision == Restart("projector", ran_for=12.0, crashes=1, delay=0.5, at=112.5)
    assert sup.state("projector") is State.WAITING and not sup.expects_running("projector")
    assert sup.expects_running("api")  # the others are left alone
    assert sup.due(112.4) == []
    assert sup.due(112.5) == ["projector"]
    sup.started("projector", now=112.6)
    assert sup.expects_running("projector") and sup.due(200.0) == []


def test_crashes_in_a_row_back_off_and_a_stable_run_starts_afresh() -> None:
    sup = Supervisor(POLICY)
    now = 0.0
    sup.started("c", now)
    delays = []
    for _ in range(4):
        now += 1.0  # each run is short
        decision = sup.exited("c", now)
        assert isinstance(decision, Restart)
        delays.append(decision.delay)
        now = decision.at
        sup.started("c", now)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    now += POLICY.stable_after  # a run long enough to count as healthy
    decision = sup.exited("c", now)
    assert isinstance(decision, Restart) and (decision.crashes, decision.delay) == (1, 0.5)


def test_gives_up_after_so_many_quick_crashes_and_stays_down() -> None:
    sup = Supervisor(RestartPolicy(first_delay=1.0, give_up_after=3, stable_after=10.0))
    sup.started("broken", 0.0)
    assert isinstance(sup.exited("broken", 0.1), Restart)
    sup.started("broken", 1.1)
    assert isinstance(sup.exited("broken", 1.2), Restart)
    sup.started("broken", 3.25)
    decision = sup.exited("broken", 3.5)
    assert decision == GiveUp("broken", ran_for=0.25, crashes=3, within=10.0)
    assert sup.state("broken") is State.GIVEN_UP
    assert sup.due(1e9) == [] and not sup.expects_running("broken")


def test_an_exit_is_counted_once() -> None:
    sup = Supervisor(POLICY)
    sup.started("c", 0.0)
    sup.exited("c", 1.0)
    with pytest.raises(ValueError, match="waiting"):
        sup.exited("c", 1.1)


def test_due_keeps_the_order_of_first_start() -> None:
    sup = Supervisor(POLICY)
    for name in ("nats", "collector-1", "projector"):
        sup.started(name, 0.0)
    sup.exited("projector", 10.0)
    sup.exited("nats", 10.2)
    assert sup.due(11.0) == ["nats", "projector"]


def test_log_lines_name_the_exit_and_what_comes_next() -> None:
    assert exit_reason(-9) == "killed by SIGKILL"
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(None) == "did not start"
    assert exit_reason(-200) == "killed by signal 200"
    restart = Restart("projector", ran_for=12.04, crashes=1, delay=0.5, at=0.0)
    assert describe(restart, -9) == (
        "projector: killed by SIGKILL after 12.0 s; restart 1 of this series in 0.5 s"
    )
    give_up = GiveUp("api", ran_for=0.2, crashes=10, within=30.0)
    assert describe(give_up, 1) == (
        "api: exited with code 1 after 0.2 s; 10 crashes in a row, each within 30 s of its"
        " start: not restarting it again (Ctrl-C stops the rest)"
    )
