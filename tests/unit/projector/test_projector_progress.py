"""A rebuild's progress: the figures and their wording on a made-up clock, and when the bar
and the log lines are written."""

from __future__ import annotations

import io
import logging

import pytest
from tasktrail_projector.adapters.progress_output import LogLines, TerminalBar, progress_output
from tasktrail_projector.progress import Progress, Snapshot, bar, duration, line, summary

from tests.unit.projector.fakes import FakeClock


def test_figures_after_a_quarter() -> None:
    progress = Progress(total=48_000, started=100.0, every=10.0)
    s = progress.at(12_000, now=108.0)
    assert (s.elapsed, s.rate, s.fraction, s.left) == (8.0, 1500.0, 0.25, 24.0)
    assert line(s) == "12,000/48,000 messages (25.0%), 1,500 msg/s, 24s left"
    assert bar(s, width=8) == "[##......]  25.0% 12,000/48,000 messages, 1,500 msg/s, 24s left"
    assert summary(s) == "12,000 messages in 8s, 1,500 msg/s"


def test_no_rate_yet_and_nothing_to_do() -> None:
    assert Snapshot(0, 100, 0.0).left is None
    assert line(Snapshot(0, 100, 0.0)) == "0/100 messages (0.0%), 0 msg/s, ? left"
    empty = Snapshot(0, 0, 1.0)
    assert (empty.fraction, empty.left) == (1.0, 0.0)
    # with --until the total is an upper bound: the replay may end short of it, never past it
    assert Snapshot(120, 100, 2.0).fraction == 1.0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "?"), (0.4, "0s"), (59.6, "1m00s"), (75, "1m15s"), (3725, "1h02m"), (90061, "25h01m")],
)
def test_durations(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


def test_says_so_at_once_then_every_so_often() -> None:
    progress = Progress(total=10, started=50.0, every=5.0)
    assert [progress.due(t) for t in (50.0, 51.0, 54.9, 55.0, 56.0, 60.0)] == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]


def test_log_lines_now_and_then_and_a_last_one(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    output = LogLines(clock, every=10.0)
    caplog.set_level(logging.INFO, logger="tasktrail.projector")
    output.start(1000)
    for done in range(100, 1001, 100):
        clock.advance(2.0)
        output.update(done)
    output.finish(1000)
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "rebuild: 100/1,000 messages (10.0%), 50 msg/s, 18s left",
        "rebuild: 600/1,000 messages (60.0%), 50 msg/s, 8s left",
        "rebuild done: 1,000 messages in 20s, 50 msg/s",
    ]


def test_a_bar_redrawn_in_place_on_a_terminal() -> None:
    clock, stream = FakeClock(), io.StringIO()
    output = TerminalBar(stream, clock, every=0.2)
    output.start(200)
    clock.advance(1.0)
    output.update(100)
    clock.advance(0.1)
    output.update(150)  # too soon to redraw
    clock.advance(0.9)
    output.finish(200)
    assert stream.getvalue().split("\r")[1:] == [
        "rebuild [###############...............]  50.0% 100/200 messages, 100 msg/s, 1s left"
        "\x1b[K",
        "rebuild [##############################] 100.0% 200/200 messages, 100 msg/s, 0s left"
        "\x1b[K\nrebuild done: 200 messages in 2s, 100 msg/s\n",
    ]


def test_a_terminal_gets_the_bar_anything_else_log_lines() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert isinstance(progress_output(Terminal(), FakeClock()), TerminalBar)
    assert isinstance(progress_output(io.StringIO(), FakeClock()), LogLines)
