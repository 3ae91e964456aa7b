"""Memory and CPU time of a process from /proc (Linux), and the one percentile the benches report."""

from __future__ import annotations

import math
import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str | None) -> float:
    """Resident memory in MB; 0 if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process (all its threads); 0 if it is gone."""
    if not pid:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    """The process's children (all its threads'); [] if it is gone."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return found


def pct(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (the smallest value with at least q of the values at or below
    it): what every bench here reports as p50/p95/p99."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) - 1e-9)  # (- 1e-9: 0.95 * 100 is 95.00000000000001 in floats)
    return ordered[min(len(ordered), max(1, rank)) - 1]
