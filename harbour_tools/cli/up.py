"""``harbour up``: the infrastructure, then every service as its own uvicorn process, in the foreground.

Ctrl-C (SIGINT) or SIGTERM stops every service process (terminate, wait, kill) and reaps it, so no process is
left behind. The embedded PostgreSQL and Kafka broker stay up (the next ``harbour up`` starts in seconds and
keeps the data); ``make down`` / ``harbour infra down`` stops them, or ``harbour up --with-infra-down`` does it
on the way out. Service output goes to ``var/log/<service>.log`` so the terminal shows the table, not five
interleaved logs.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import inspect
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import typer
from rich.table import Table

from harbour import logsafe
from harbour.settings import REPO_ROOT, HarbourSettings, get_settings
from harbour_tools import infra
from harbour_tools.cli import app, console, err_console, fail

HOST = "127.0.0.1"
HEALTH_SECONDS = 90.0  # a cold start creates databases, applies migrations and joins consumer groups
STOP_SECONDS = 10.0


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _select(only: str | None) -> list[str]:
    from services import registry

    available = registry.available()
    if not only:
        return available
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in available]
    if unknown:
        fail(f"no service named {', '.join(unknown)}; services in this tree: {', '.join(available) or 'none'}")
    return wanted


def _port_free(port: int) -> bool:
    # Bind, like uvicorn will (SO_REUSEADDR: a socket of a service stopped a moment ago in TIME_WAIT is no
    # obstacle; a listener on the port is, on 127.0.0.1 or on 0.0.0.0).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def _plan(names: list[str], settings: HarbourSettings) -> list[ServiceProcess]:
    from services import registry

    if importlib.util.find_spec("uvicorn") is None:
        fail("a dependency is missing: uvicorn is not installed (run `make venv`)")
    plan = []
    for name in names:
        definition = registry.definition(name)  # imports the service: a missing dependency shows up here
        module = registry.SERVICES[name]
        if not callable(getattr(importlib.import_module(module), "create", None)):
            fail(f"{module} has no create() factory, so it cannot be run as a process")
        port = definition.port + settings.port_offset
        if not _port_free(port):
            fail(
                f"port {port} for {name} is already taken (another `harbour up`?); stop what listens there "
                f"(`ss -ltnp 'sport = :{port}'` shows it), or shift every port: HARBOUR_PORT_OFFSET=100"
            )
        plan.append(ServiceProcess(name, module, port, settings.var_dir / "log" / f"{name}.log"))
    return plan


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM if `harbour up` itself dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _start(service: ServiceProcess, env: dict[str, str]) -> None:
    service.log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "uvicorn", "--factory", f"{service.module}:create",
               "--host", HOST, "--port", str(service.port)]  # fmt: skip
    with service.log.open("ab") as log:
        # Own session: the terminal's Ctrl-C reaches only us, and we stop the services one way (SIGTERM),
        # instead of uvicorn also seeing the SIGINT and a second signal forcing it out mid-shutdown.
        service.proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        preexec_fn=_die_with_parent)  # fmt: skip


def _stop_all(services: list[ServiceProcess]) -> None:
    running = [s.proc for s in services if s.proc is not None and s.proc.poll() is None]
    for proc in running:
        proc.terminate()  # uvicorn: graceful shutdown, the service's lifespan stops its relay and consumers
    deadline = time.monotonic() + STOP_SECONDS
    for proc in running:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    for service in services:
        if service.proc is not None:
            service.proc.wait()  # reaped: not even a zombie stays behind


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _exited(service: ServiceProcess) -> str:
    assert service.proc is not None
    return (f"{service.name} exited with code {service.proc.returncode}; the end of {service.log}:\n"
            f"{_tail(service.log)}")  # fmt: skip


def _wait_healthy(services: list[ServiceProcess], stop: threading.Event) -> None:
    pending = list(services)
    console.print(f"starting {', '.join(s.name for s in services)} (logs in {services[0].log.parent})", highlight=False)
    deadline = time.monotonic() + HEALTH_SECONDS
    with httpx.Client(timeout=2.0) as client:
        while pending and not stop.is_set():
            for service in list(pending):
                assert service.proc is not None
                if service.proc.poll() is not None:
                    raise _Failed(_exited(service))
                try:
                    if client.get(f"{service.url}/health").status_code == 200:
                        pending.remove(service)
                        console.print(f"  [green]up[/] {service.name} on {service.url}", highlight=False)
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise _Failed(f"{names} did not answer /health within {HEALTH_SECONDS:.0f} s; see their logs")
            stop.wait(0.2)


class _Failed(Exception):
    pass


def _table(services: list[ServiceProcess]) -> Table:
    table = Table(title="Harbour is up (Ctrl-C stops every service)", title_justify="left")
    # URLs are folded, never cut with an ellipsis: a truncated URL is useless to copy. Logs: printed above.
    for column in ("service", "URL", "OpenAPI docs", "AsyncAPI docs", "metrics"):
        table.add_column(column, overflow="fold", no_wrap=column == "service")
    for s in services:
        table.add_row(s.name, s.url, f"{s.url}/docs", f"{s.url}/asyncapi", f"{s.url}/metrics")
    return table


def _start_demo(services: list[ServiceProcess]) -> None:
    """``--demo``: ``harbour_tools.demo.run(urls)`` (urls: service name -> base URL) in a thread, when it exists."""
    if importlib.util.find_spec("harbour_tools.demo") is None:
        console.print("[yellow]the demo is not installed here (the container image ships without it)[/]")
        return
    demo = importlib.import_module("harbour_tools.demo")
    urls = {s.name: s.url for s in services}

    def run() -> None:
        try:
            result = demo.run(urls)
            if inspect.isawaitable(result):
                import asyncio

                asyncio.run(result)  # type: ignore[arg-type]
        except Exception as exc:  # the demo failing must not take the services down
            err_console.print(f"[red]the demo failed:[/] {type(exc).__name__}: {exc}")

    # A daemon thread: Ctrl-C stops the services and the process, whatever the demo is doing.
    threading.Thread(target=run, name="harbour-demo", daemon=True).start()


@app.command("up")
def up(
    only: str | None = typer.Option(None, "--only", help="comma-separated services to run, e.g. intake,legal"),
    demo: bool = typer.Option(False, "--demo", help="once everything is healthy, run harbour_tools.demo (if present)"),
    with_infra_down: bool = typer.Option(
        False, "--with-infra-down", help="on exit, also stop the embedded PostgreSQL/Kafka (like `make down`)"
    ),
) -> None:
    """Infrastructure, then every service as its own process; prints where each listens; Ctrl-C stops them all."""
    # This process's own records too (each service process installs it in create_app): types and places only.
    logsafe.install()
    settings = get_settings()
    plan = _plan(_select(only), settings)  # ports and imports checked before anything is started
    if not plan:
        fail("there is no service in this tree to run")
    status = infra.infra_up(settings)
    env = dict(os.environ)
    env["HARBOUR_DATABASE_URL"] = settings.database_url or status.postgres.url or ""
    env["HARBOUR_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap or status.kafka.url or ""
    env["PYTHONUNBUFFERED"] = "1"

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()  # only a flag: the main loop stops the children, never from inside a signal handler

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for service in plan:
            _start(service, env)
        _wait_healthy(plan, stop)
        if not stop.is_set():
            console.print(_table(plan))
            if demo:
                _start_demo(plan)
        while not stop.wait(0.5):
            dead = [s for s in plan if s.proc is not None and s.proc.poll() is not None]
            if dead:
                raise _Failed(_exited(dead[0]))
    except _Failed as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        code = 1
    finally:
        console.print("stopping the services...")
        _stop_all(plan)
        if with_infra_down:
            for line in infra.infra_down(settings).stopped:
                console.print(f"stopped {line}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("every service stopped" + ("" if with_infra_down else "; `make down` stops PostgreSQL/Kafka"))
    raise typer.Exit(code)
