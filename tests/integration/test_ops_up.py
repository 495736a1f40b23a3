"""``harbour up`` as a person runs it: a real process tree, stopped by Ctrl-C (SIGINT), nothing left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from harbour.db import drop_database
from harbour.settings import REPO_ROOT
from harbour_tools.infra import BrokerProcess, free_port, port_open
from services.intake.app import DEFINITION as INTAKE

pytestmark = pytest.mark.integration


def _harbour_up(args: list[str], env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as out:
        # Own session: the SIGINT the test sends reaches `harbour up` only, as Ctrl-C reaches it in a terminal.
        return subprocess.Popen([sys.executable, "-m", "harbour_tools.cli.main", "up", *args], cwd=REPO_ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _env(pg_server_url: str, broker: BrokerProcess, port: int, tmp_path: Path, prefix: str) -> dict[str, str]:
    # HARBOUR_PORT_OFFSET moves intake from 8101 to a free port, so a running `make run` is no obstacle.
    return os.environ | {
        "HARBOUR_DATABASE_URL": pg_server_url,
        "HARBOUR_KAFKA_BOOTSTRAP": broker.bootstrap,
        "HARBOUR_PORT_OFFSET": str(port - INTAKE.port),
        "HARBOUR_DATABASE_PREFIX": prefix,
        "HARBOUR_VAR_DIR": str(tmp_path / "var"),
        "COLUMNS": "200",
    }


def _descendants(pid: int) -> set[int]:
    children: dict[int, set[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), set()).add(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def test_harbour_up_serves_intake_until_ctrl_c_and_leaves_no_process_behind(pg_server_url, running_broker, tmp_path):
    port, prefix = free_port(), f"harbour_test_up_{uuid.uuid4().hex[:8]}_"
    output = tmp_path / "up.out"
    proc = _harbour_up(["--only", "intake"], _env(pg_server_url, running_broker, port, tmp_path, prefix), output)
    try:
        deadline = time.monotonic() + 45
        while True:
            assert proc.poll() is None, f"harbour up exited early:\n{output.read_text()}"
            assert time.monotonic() < deadline, f"intake never answered /health:\n{output.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        children = _descendants(proc.pid)
        assert children, "intake runs in a process of its own"
        while "Harbour is up" not in output.read_text():  # the table follows the health check
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.05)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, output.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        asyncio.run(drop_database(pg_server_url, f"{prefix}intake"))
    # /proc/<pid> exists for a zombie too: its absence proves every child was stopped and reaped.
    assert [pid for pid in children if Path(f"/proc/{pid}").exists()] == []
    assert not port_open("127.0.0.1", port)
    shown = output.read_text()
    for path in ("/docs", "/asyncapi", "/metrics"):
        assert f"http://127.0.0.1:{port}{path}" in shown


def test_harbour_up_refuses_clearly_when_a_service_port_is_taken(pg_server_url, running_broker, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = _env(pg_server_url, running_broker, port, tmp_path, "harbour_test_up_taken_")
        proc = _harbour_up(["--only", "intake"], env, tmp_path / "up.out")
        assert proc.wait(timeout=30) == 1
    shown = (tmp_path / "up.out").read_text()
    assert f"port {port} for intake is already taken" in shown and "HARBOUR_PORT_OFFSET" in shown
