"""This process's own figures under prometheus_client's standard names (``process_*``), read
from ``/proc/self`` when asked, as prometheus_client's process collector reads them, so the
dashboards and alert rules written for any Python exporter read tasktrail's services alike.

Where there is no ``/proc`` (not Linux), the figures ``resource`` gives stand in (CPU time,
peak resident memory) and the rest are left out.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Mapping
from pathlib import Path

from tasktrail_shared.exposition import Exposition

PROC = Path("/proc")
IMPORTED = time.time()
"""Without ``/proc``, the start time is taken as when this module was first imported."""
_HELP = {
    "process_virtual_memory_bytes": ("gauge", "Virtual memory size in bytes."),
    "process_resident_memory_bytes": ("gauge", "Resident memory size in bytes."),
    "process_start_time_seconds": (
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    ),
    "process_cpu_seconds_total": ("counter", "Total user and system CPU time spent in seconds."),
    "process_open_fds": ("gauge", "Number of open file descriptors."),
    "process_max_fds": ("gauge", "Maximum number of open file descriptors."),
}


def _boot_time(proc: Path) -> float:
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise ValueError("no btime in /proc/stat")


def _from_proc(proc: Path) -> dict[str, float]:
    """The figures of ``/proc/self/stat`` (see proc(5)); fields counted after the command
    name, which is in parentheses and may hold spaces."""
    fields = (proc / "self" / "stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    return {
        "process_virtual_memory_bytes": float(fields[20]),
        "process_resident_memory_bytes": float(fields[21]) * page,
        "process_start_time_seconds": _boot_time(proc) + float(fields[19]) / ticks,
        "process_cpu_seconds_total": (float(fields[11]) + float(fields[12])) / ticks,
        "process_open_fds": float(len(os.listdir(proc / "self" / "fd"))),
    }


def _from_resource() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "process_cpu_seconds_total": usage.ru_utime + usage.ru_stime,
        "process_resident_memory_bytes": float(usage.ru_maxrss) * 1024,
        "process_start_time_seconds": IMPORTED,
    }


def figures(proc: Path = PROC) -> dict[str, float]:
    """Each ``process_*`` figure of this process now."""
    try:
        found = _from_proc(proc)
    except (OSError, ValueError, IndexError):
        found = _from_resource()
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        found["process_max_fds"] = float(soft)
    return found


def write(out: Exposition, found: Mapping[str, float]) -> None:
    """``found`` (from :func:`figures`) as families, in a fixed order."""
    for name, (kind, help_) in _HELP.items():
        if name in found:
            out.family(name, kind, help_, {(): found[name]})
