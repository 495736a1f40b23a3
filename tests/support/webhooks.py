"""The webhook tests' receiver (``webhook_receiver.py``, run as its own process) and its fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harbour.settings import REPO_ROOT
from harbour_tools.infra import free_port

RECEIVER = REPO_ROOT / "tests" / "support" / "webhook_receiver.py"


class Receiver:
    """tests/support/webhook_receiver.py as its own process, on one port across restarts."""

    def __init__(self, record: Path) -> None:
        self.record = record
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/harbour"

    def start(self, secret: str, *, answer: int = 200, stall_at: int | None = None) -> None:
        command = [sys.executable, str(RECEIVER), "--port", str(self.port), "--secret", secret,
                   "--record", str(self.record), "--answer", str(answer)]  # fmt: skip
        if stall_at is not None:
            command += ["--stall-at", str(stall_at)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "listening", "the receiver did not start"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        entries = [json.loads(line) for line in self.record.read_text().splitlines()]
        return [e for e in entries if kind is None or e["kind"] == kind]


@contextmanager
def receivers_in(folder: Path) -> Iterator[Callable[[str], Receiver]]:
    """``make(name)`` makes a receiver recording under ``folder`` (not started); every one is killed at the end."""
    made: list[Receiver] = []

    def make(name: str) -> Receiver:
        made.append(Receiver(folder / f"{name}.jsonl"))
        return made[-1]

    try:
        yield make
    finally:
        for receiver in made:
            receiver.stop()
