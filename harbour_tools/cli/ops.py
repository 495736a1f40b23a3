"""``harbour replay``, ``harbour dlq list|replay|park``, ``harbour rebuild``: operating a running platform.

The logic is in ``harbour_tools/ops.py``. These commands find PostgreSQL and Kafka the way ``harbour infra status``
does (``HARBOUR_DATABASE_URL`` / ``HARBOUR_KAFKA_BOOTSTRAP``, else the machine's server or the embedded ones
``harbour up`` started) and never start anything: replaying into a broker that was just started empty, or
rebuilding in a database that was just created, would only hide that the platform is not running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harbour.db import database_url
from harbour.service import ServiceDefinition
from harbour.settings import HarbourSettings, get_settings
from harbour_tools import infra, ops
from harbour_tools.cli import app, console, err_console, fail

_T = TypeVar("_T")

dlq_app = typer.Typer(help="Dead letters: list them, re-drive them to their original topic, park one record by hand.",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(dlq_app, name="dlq")


# --------------------------------------------------------------------------------------------- resolving


def _postgres(settings: HarbourSettings) -> str:
    if settings.database_url:
        return settings.database_url  # the status would show it redacted
    endpoint = infra.infra_status(settings).postgres
    if not endpoint.running or endpoint.url is None:
        fail("no PostgreSQL is running: start the platform with `harbour up` (or set HARBOUR_DATABASE_URL)")
    return endpoint.url


def _kafka(settings: HarbourSettings) -> str:
    if settings.kafka_bootstrap:
        if not infra.kafka_answers(settings.kafka_bootstrap):
            fail(f"no Kafka broker answers at HARBOUR_KAFKA_BOOTSTRAP={settings.kafka_bootstrap}")
        return settings.kafka_bootstrap
    endpoint = infra.infra_status(settings).kafka
    if not endpoint.running or endpoint.url is None:
        fail("no Kafka broker is running: start the platform with `harbour up` (or set HARBOUR_KAFKA_BOOTSTRAP)")
    return endpoint.url


def _definition(name: str) -> ServiceDefinition:
    from services import registry  # the services are only imported by the commands that need them

    if name not in registry.available():
        fail(f"no service named {name!r}; services in this tree: {', '.join(registry.available()) or 'none'}")
    return registry.definition(name)


def _load_all_topics() -> None:
    """Import every service, so that the topics they register (milestones...) are in the topic table."""
    from services import registry

    for name in registry.available():
        registry.definition(name)


def _run(coro: Coroutine[Any, Any, _T], *, service: ServiceDefinition | None = None) -> _T:
    try:
        return asyncio.run(coro)
    except asyncpg.InvalidCatalogNameError:
        what = f"the {service.name} service's database" if service else "a database"
        fail(f"{what} does not exist on this server: has the service run here (`harbour up`)?")


@contextmanager
def _bar(label: str) -> Iterator[ops.Progress]:
    """A rich progress bar (events done / total) on stderr, driven by the ops' (done, total) callback."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update


# --------------------------------------------------------------------------------------------- replay, rebuild


@app.command("replay")
def replay(
    service: str = typer.Argument(..., help="the service whose store is replayed, e.g. intake"),
    from_position: int = typer.Option(..., "--from", min=0, help="global position of the first event to publish"),
) -> None:
    """Publish a service's stored events again from a global position (the relay's checkpoint does not move)."""
    settings = get_settings()
    definition = _definition(service)
    url, bootstrap = database_url(_postgres(settings), definition.database(settings)), _kafka(settings)

    async def go(update: ops.Progress) -> int:
        async with ops.open_target(definition, url, bootstrap, settings) as target:
            return await ops.replay(target, from_position, progress=update)

    with _bar(f"replay {service}") as update:
        count = _run(go(update), service=definition)
    console.print(f"re-published {count} event(s) of {service} from position {from_position}; "
                  "consumers skip those they already applied", highlight=False)  # fmt: skip


@app.command("rebuild")
def rebuild(
    service: str = typer.Argument(..., help="the service owning the read model, e.g. intake"),
    projection: str = typer.Argument(..., help="the projection's name, e.g. intake.referral_status"),
) -> None:
    """Empty a read model and rebuild it from position 0, in one transaction (readers see the old rows until then)."""
    settings = get_settings()
    definition = _definition(service)
    try:
        chosen = ops.find_projection(definition, projection)
    except LookupError as exc:
        fail(str(exc))
    url = database_url(_postgres(settings), definition.database(settings))

    async def go(update: ops.Progress) -> int:
        async with ops.open_target(definition, url, "", settings) as target:
            return await ops.rebuild(target.pool, chosen, progress=update)

    with _bar(f"rebuild {chosen.name}") as update:
        count = _run(go(update), service=definition)
    console.print(f"rebuilt {chosen.name} ({', '.join(chosen.tables)}) from {count} event(s)", highlight=False)


# --------------------------------------------------------------------------------------------- dead letters


@dlq_app.command("list")
def dlq_list(topic: str | None = typer.Argument(None, help="a dead-letter topic; default: every *.dlq topic")) -> None:
    """The dead letters: where they came from, who failed them and why (never their payload)."""
    settings = get_settings()
    _load_all_topics()
    letters = _run(ops.list_dead_letters(_kafka(settings), [topic] if topic else None))
    if not letters:
        console.print(f"no dead letters on {topic or 'any *.dlq topic'}", highlight=False)
        return
    table = Table(title="Dead letters", title_justify="left")
    for column in ("topic", "partition", "offset", "original", "consumer", "reason", "error type", "error message",
                   "event type", "case id"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for d in letters:
        original = f"{d.original_topic} [{_dash(d.original_partition)}] @{_dash(d.original_offset)}"
        reason = d.reason + (f" ({d.omitted} omitted: too large)" if d.omitted else "")
        table.add_row(d.topic, str(d.partition), str(d.offset), original, d.consumer, reason, d.error_type,
                      d.error_message, d.event_type, d.case_id)  # fmt: skip
    console.print(table)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


@dlq_app.command("replay")
def dlq_replay(
    topic: str = typer.Argument(..., help="the dead-letter topic, e.g. intake.events.v1.dlq"),
    consumer: str | None = typer.Option(None, "--consumer", help="only the letters this consumer failed"),
) -> None:
    """Re-publish dead letters to their original topic, each once (see harbour_tools/ops.py: replay_dead_letters)."""
    settings = get_settings()
    _load_all_topics()
    if not topic.endswith(".dlq"):
        fail(f"{topic} is not a dead-letter topic: did you mean {topic}.dlq? (`harbour dlq list` shows them all)")
    bootstrap = _kafka(settings)
    with _bar(f"re-drive {topic}") as update:
        result = _run(ops.replay_dead_letters(bootstrap, topic, settings, consumer=consumer, progress=update))
    console.print(f"re-drove {len(result.redriven)} dead letter(s) from {topic}"
                  + (f" ({result.already} re-driven by an earlier replay)" if result.already else ""),
                  highlight=False)  # fmt: skip


@dlq_app.command("park")
def dlq_park(
    topic: str = typer.Argument(..., help="the topic the record is on, e.g. intake.events.v1"),
    partition: int = typer.Option(..., "--partition", min=0, help="its partition"),
    offset: int = typer.Option(..., "--offset", min=0, help="its offset: where the group is stopped"),
    consumer: str = typer.Option(
        ..., "--consumer", help="the consumer (group) to move past it, e.g. legal.case-opened"
    ),
    note: str = typer.Option("", "--note", help="why, for the letter's dlq.error_message (no personal data)"),
) -> None:
    """Park one record by hand: copy it to TOPIC.dlq as parked by an operator and move the group past it.

    Stop the group's consumers first. Refused, with nothing done, unless the group is stopped exactly at OFFSET.
    """
    settings = get_settings()
    _load_all_topics()
    bootstrap = _kafka(settings)
    try:
        parked = _run(ops.park(bootstrap, topic, partition, offset, consumer, settings, note=note))
    except ops.ParkRefused as exc:
        fail(str(exc))
    letter = parked.letter
    console.print(f"parked {topic} [{partition}] @{offset} for {consumer}: letter {letter.topic} @{letter.offset}"
                  + (" (written by an earlier park)" if parked.already else "")
                  + f"; group {parked.group} now at {parked.committed_after}", highlight=False)  # fmt: skip
