"""Services as real processes (uvicorn, as ``harbour up`` runs them), for fault tests that kill one with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harbour.settings import REPO_ROOT
from harbour_tools.infra import free_port
from tests.support.harness import QUICK_GROUPS


@dataclass
class ServiceProcess:
    """One service's uvicorn process on a port of its own; ``kill()`` is a SIGKILL, as the OOM killer sends."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> None:
        command = [sys.executable, "-m", "uvicorn", "--factory", f"services.{self.name}.app:create",
                   "--host", "127.0.0.1", "--port", str(self.port)]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, f"{self.name} exited at start:\n{self.tail()}"
            assert time.monotonic() < deadline, f"{self.name} never answered /health:\n{self.tail()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, no relay stop, no consumer commit; the process is reaped."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def process_env(*, pg_server_url: str, bootstrap: str, prefix: str, var_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a platform of its own: its databases (prefix), the test's broker, its own var/ (keys)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOUR_")}
    env.update({"HARBOUR_DATABASE_URL": pg_server_url, "HARBOUR_KAFKA_BOOTSTRAP": bootstrap,
                "HARBOUR_DATABASE_PREFIX": prefix, "HARBOUR_VAR_DIR": str(var_dir),
                "HARBOUR_RELAY_POLL_SECONDS": "0.2", "HARBOUR_TIMER_POLL_SECONDS": "0.5",
                "OTEL_SDK_DISABLED": "true"})  # fmt: skip
    # Short consumer-group timeouts (see tests.support.harness.QUICK_GROUPS): a group forms in about 1 s, not 5.
    env.update({f"HARBOUR_{k.upper()}": str(v) for k, v in QUICK_GROUPS.items()})
    env.update({f"HARBOUR_{k.upper()}": v for k, v in settings.items()})
    return env
