"""Child processes that are started, watched and stopped without leaving anything behind.

Every child runs in its own session (and so its own process group): a terminal's Ctrl-C then
reaches only the stack, which stops its children in order, and stopping a child can kill
its whole group, Celery's pool processes included. The leader is waited for without being
reaped (``waitid(WNOWAIT)``) until its group has been killed, so its pid, which names the
group, cannot be reused by an unrelated process in between.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NotRequired, Self, TypedDict, Unpack

import httpx

STOP_TIMEOUT = 10.0


class ProcessFailed(RuntimeError):
    """A child exited, or did not become ready in time; the message carries its log tail."""


def find_binary(name: str) -> str:
    """Prefer the executable installed next to this interpreter (the venv), then ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def tail_file(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with(parent: int, sig: signal.Signals) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send ``sig`` to the child if ``parent`` dies first.

    A child in its own session gets no Ctrl-C from the terminal; this covers the parent being
    SIGKILLed (a CI timeout), which would otherwise leave servers running for good. Linux
    ties it to the spawning *thread*: spawn from a thread that lives as long as the child.
    """
    libc = _LIBC
    if libc is None:
        return None

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    command: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    death_signal: signal.Signals = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session, stdout and stderr appended to ``log_path``.

    ``death_signal`` reaches the child if this process dies without stopping it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_die_with(os.getpid(), death_signal),
        )


def peek_status(proc: subprocess.Popen[bytes]) -> int | None:
    """The child's exit status (negative signal number if killed), without reaping it."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped elsewhere: let Popen report what it knows
        return proc.poll()
    if info is None or info.si_pid == 0:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def has_exited(proc: subprocess.Popen[bytes]) -> bool:
    return peek_status(proc) is not None


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _finish(proc: subprocess.Popen[bytes], deadline: float) -> int:
    """Wait for the leader until ``deadline``, SIGKILL what is left of its group, reap."""
    if proc.returncode is not None:  # reaped already: its pid no longer names our group
        return proc.returncode
    while not has_exited(proc) and time.monotonic() < deadline:
        time.sleep(0.02)
    _killpg(proc.pid, signal.SIGKILL)
    return proc.wait()


class Lifetime(ABC):
    """What a ``with`` block starts (unless started already) and stops on leaving. A start
    that fails part way is stopped too: nothing it began is left running."""

    @abstractmethod
    def start(self) -> object:
        """Start (each kind says how); may raise once it has begun."""

    @abstractmethod
    def stop(self) -> object:
        """Stop whatever was started; does nothing when nothing was."""

    @abstractmethod
    def started(self) -> bool: ...

    def __enter__(self) -> Self:
        if not self.started():
            try:
                self.start()
            except BaseException:
                self.stop()
                raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Child(Lifetime):
    """A child process in its own group; subclasses say how to start and check it.

    ``request_stop()`` only sends ``stop_signal`` (to the leader, so that it can shut its own
    children down in order, as a Celery worker does its pool); ``stop()`` then waits and
    SIGKILLs whatever is left of the group. :func:`stop_all` stops several at once.
    """

    name: str
    log_path: Path
    stop_signal: signal.Signals = signal.SIGTERM

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._signalled = False

    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and not has_exited(self._proc)

    def exit_code(self) -> int | None:
        """The exit status once the child has exited, else ``None``."""
        return None if self._proc is None else peek_status(self._proc)

    def log_tail(self, lines: int = 40) -> str:
        return tail_file(self.log_path, lines)

    def failure(self, reason: str) -> ProcessFailed:
        header = f"--- last lines of {self.log_path} ---"
        return ProcessFailed(f"{self.name}: {reason}\n{header}\n{self.log_tail()}")

    def request_stop(self) -> None:
        """Send the stop signal once, without waiting."""
        if self._proc is not None and not self._signalled and not has_exited(self._proc):
            self._signalled = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, self.stop_signal)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """Graceful stop, then SIGKILL the group after ``timeout``; returns the exit status."""
        if self._proc is None:
            return None
        self.request_stop()
        return _finish(self._proc, time.monotonic() + timeout)

    def kill(self) -> int | None:
        """SIGKILL the whole group at once, as a crash would."""
        if self._proc is None:
            return None
        _killpg(self._proc.pid, signal.SIGKILL)
        return self._proc.wait()

    def restart(self) -> None:
        """Start again, as before, once the child has exited (or was never started).

        What is left of the old group (a Celery pool whose leader was killed) is SIGKILLed
        and the leader reaped first.
        """
        if self._proc is not None:
            if not has_exited(self._proc):
                raise RuntimeError(f"{self.name} is still running")
            _finish(self._proc, time.monotonic())
        self._proc, self._signalled = None, False
        self.start_again()

    def start_again(self) -> None:
        """Start the child the way it was first started; :meth:`restart` calls it."""
        raise NotImplementedError


def stop_all(children: Iterable[Child], timeout: float = STOP_TIMEOUT) -> None:
    """Stop independent children concurrently: signal them all, then wait for them all."""
    children = list(children)
    for child in children:
        child.request_stop()
    deadline = time.monotonic() + timeout
    for child in children:
        child.stop(max(0.0, deadline - time.monotonic()))


class ServiceProcess(Child):
    """One long-running child (a service, a worker, the traffic generator)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        super().__init__()
        self.name = name
        self.command = list(command)
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.stop_signal = stop_signal
        self._log_offset = 0

    def start(self) -> Self:
        if self._proc is not None:
            raise RuntimeError(f"{self.name} already started")
        with contextlib.suppress(OSError):
            self._log_offset = self.log_path.stat().st_size  # logs append across runs
        self._proc = spawn(self.command, log_path=self.log_path, env=self.env)
        return self

    def start_again(self) -> None:
        self.start()

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._proc.pid

    def check_running(self) -> None:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not started")
        if not self.running:
            raise self.failure(f"exited with code {self.exit_code()}")

    def wait_until(self, ready: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` until true; fail early if the child exits."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_running()
            if predicate():
                return
            if time.monotonic() >= deadline:
                raise self.failure(f"not {ready} after {timeout:.0f} s")
            time.sleep(0.1)

    def wait_http_ok(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``GET url`` answers 200 (its health endpoint, typically)."""
        with httpx.Client(timeout=2.0, trust_env=False) as client:

            def ok() -> bool:
                try:
                    return client.get(url).status_code == 200
                except httpx.HTTPError:
                    return False

            self.wait_until(f"answering {url}", ok, timeout)

    def wait_log(self, text: str, timeout: float = 30.0) -> None:
        """Wait until this run of the child writes ``text`` to its log."""
        self.wait_until(f"logging {text!r}", lambda: text in self.log_since_start(), timeout)

    def log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""


# --- Celery workers -----------------------------------------------------------------------

CELERY_READY = " ready."
"""Celery logs ``<hostname> ready.`` once it consumes tasks and remote-control messages."""


def celery_worker_process(
    app: str,
    *,
    env: Mapping[str, str],
    name: str,
    log_path: Path,
    queues: Sequence[str] | None = None,
    concurrency: int = 2,
    stop_signal: signal.Signals = signal.SIGTERM,
) -> ServiceProcess:
    """An unstarted ``celery -A app worker -E`` (prefork): callers can register its stop first.

    ``stop_signal``: SIGTERM is Celery's warm shutdown (running tasks finish), SIGQUIT its
    cold one (they do not).
    """
    command = [
        find_binary("celery"),
        "-A",
        app,
        "worker",
        "-E",
        "-l",
        "info",
        "-n",
        name,
        "-c",
        str(concurrency),
        "-P",
        "prefork",
        "--without-mingle",
        "--without-gossip",
    ]
    if queues:
        command += ["-Q", ",".join(queues)]
    return ServiceProcess(
        f"worker {name}", command, log_path=log_path, env=env, stop_signal=stop_signal
    )


class WorkerOptions(TypedDict):
    """The options of :func:`celery_worker_process` that :func:`start_celery_worker` passes on."""

    env: Mapping[str, str]
    name: str
    log_path: Path
    queues: NotRequired[Sequence[str] | None]
    concurrency: NotRequired[int]


def start_celery_worker(
    app: str, *, timeout: float = 30.0, **options: Unpack[WorkerOptions]
) -> ServiceProcess:
    """Start a Celery worker with events on and wait until it is ready to consume."""
    worker = celery_worker_process(app, **options)
    worker.start()
    try:
        worker.wait_log(CELERY_READY, timeout)
    except BaseException:
        worker.stop(timeout=5)
        raise
    return worker


# --- inspecting process trees (Linux) -----------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid``: what must be gone once it is stopped.

    Collect them while the tree is intact: once a parent dies, its children are re-parented.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {p for p in found if pid_alive(p)}
