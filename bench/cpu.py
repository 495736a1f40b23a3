"""Where the CPU goes: each process's own accounting, and a sampled split of it by role.

Totals come from ``/proc/<pid>/stat`` (user + system time of every thread of the process, as the kernel counts
it), read before and after a measured stretch: nothing is estimated. The split by role comes from py-spy
sampling the same processes over the same stretch (on-CPU samples only, ``--nonblocking`` so the processes are not
paused): each sampled stack is given to the first role whose module it passes through, and a process's measured
CPU is divided in proportion to its samples. Sampling at 100 Hz over a minute gives thousands of samples per busy
process, so a role under 1 % is noise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# (role, the module paths a stack passes through), checked in this order: a stack of the milestone relay passes
# through the relay too, and an HTTP command's append through the store; the first match wins, so the more
# specific role comes first.
ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # py-spy names a library's file from its package down (opentelemetry's JSON file exporter is
    # ``file/trace_exporter.py``, the batch processor's thread ``_shared_internal/__init__.py``).
    (
        "tracing export",
        (
            "file/trace_exporter.py",
            "file/_internal.py",
            "_shared_internal/",
            "proto_json/",
            "trace/export/",
            "harbour/trace_files.py",
        ),
    ),
    ("webhook delivery", ("services/feeds/webhooks/",)),
    ("milestone relay", ("milestones/route.py",)),
    ("case-audience consumers", ("milestones/case_audiences.py",)),
    ("relay", ("harbour/kafka/relay.py", "harbour/kafka/rebuild.py", "aiokafka/producer")),
    ("consumers", ("harbour/kafka/consumer.py", "aiokafka/consumer", "faststream/")),
    ("append", ("harbour/store",)),
    # Not "uvicorn/": every stack of a service starts in uvicorn/__main__.py.
    ("http", ("starlette/", "fastapi/", "uvicorn/protocols/", "h11/", "httptools", "harbour/http/")),
    ("timers", ("harbour/timers.py",)),
)
OTHER = "other (event loop, pool, spans outside export)"
# Processes py-spy cannot sample (the Tansu broker is Rust): their whole CPU is their own role.
NOT_PYTHON = frozenset({"broker"})


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far, all its threads (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is field 3 of the man page, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def role_of(stack: str) -> str:
    for role, modules in ROLES:
        if any(module in stack for module in modules):
            return role
    return OTHER


def read_samples(raw: str) -> Counter[str]:
    """py-spy's raw (collapsed) output: ``frame;frame;... count`` per line, into samples per role."""
    roles: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            roles[role_of(stack)] += int(count)
    return roles


@dataclass
class Sampling:
    """py-spy recording every process while the ``with`` body runs; ``roles[name]`` the samples per role."""

    pids: Mapping[str, int]
    rate: int = 100
    roles: dict[str, Counter[str]] = field(default_factory=dict)
    unavailable: str | None = None


@contextlib.contextmanager
def sampled(pids: Mapping[str, int], *, rate: int = 100, keep: Path | None = None) -> Iterator[Sampling]:
    """Sample while the body runs; ``keep``: a directory where each process's collapsed stacks are copied (for a
    flame graph, or to find a role's top functions)."""
    sampling = Sampling(pids, rate)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        sampling.unavailable = "py-spy is not installed (pip install -e '.[dev]')"
        yield sampling
        return
    with tempfile.TemporaryDirectory(prefix="harbour-bench-cpu-") as tmp:
        recorders: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for name, pid in pids.items():
            if name in NOT_PYTHON:
                continue
            out = Path(tmp) / f"{name}.txt"
            command = [spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "--nonblocking",
                       "--output", str(out)]  # fmt: skip
            recorders[name] = (subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out)
        try:
            yield sampling
        finally:
            for proc, _ in recorders.values():
                proc.send_signal(2)  # py-spy writes what it has on SIGINT
            for name, (proc, out) in recorders.items():
                try:
                    _, err = proc.communicate(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
                if out.exists():
                    sampling.roles[name] = read_samples(out.read_text(errors="replace"))
                    if keep is not None:
                        keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(out, keep / out.name)
                elif sampling.unavailable is None:
                    sampling.unavailable = f"py-spy on {name}: {err.decode(errors='replace').strip()[-200:]}"


def split(before: Mapping[str, float], after: Mapping[str, float], sampling: Sampling | None,
          per: int) -> dict[str, object]:  # fmt: skip
    """CPU milliseconds per unit of work (``per``: commands), by process and, where sampled, by role."""
    used = {name: max(0.0, after[name] - before.get(name, 0.0)) for name in after}
    total = sum(used.values())
    result: dict[str, object] = {
        "cpu_s": round(total, 2),
        "cpu_ms_per_command": round(total * 1000 / per, 2) if per else None,
        "cpu_ms_per_command_by_process": {n: round(s * 1000 / per, 2) for n, s in used.items()} if per else {},
    }
    if sampling is not None and sampling.roles:
        by_role: dict[str, float] = {name: used[name] for name in used if name in NOT_PYTHON}
        for name, roles in sampling.roles.items():
            samples = sum(roles.values())
            for role, n in roles.items():
                by_role[role] = by_role.get(role, 0.0) + (used.get(name, 0.0) * n / samples if samples else 0.0)
        result["cpu_ms_per_command_by_role"] = (
            {r: round(s * 1000 / per, 2) for r, s in sorted(by_role.items(), key=lambda kv: -kv[1])} if per else {}
        )
    if sampling is not None and sampling.unavailable:
        result["sampling"] = sampling.unavailable
    return result
