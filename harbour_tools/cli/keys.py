"""``harbour keys new|status|rotate|purge``: the master key that wraps a service's per-person keys, and its copies.

Each service wraps its own per-person keys with its own master key (``HARBOUR_MASTER_KEY`` and
``HARBOUR_MASTER_KEY_VERSION`` in its container; deploy/README.md). ``rotate`` re-wraps, under the *current* master
key of these settings, every key of the service's table that another version wraps, taking the old versions' keys
from ``HARBOUR_MASTER_KEY_RING``: the command thus rotates to exactly the key the services were given, never to
one they do not know. It works in small batches, one transaction each, so the services go on sealing, opening and
erasing beside it, and a rotation stopped half-way is finished by running it again. Then it rewrites the table so
that the old wrapped copies are gone from its pages too (``purge``), and checks that no old version still wraps
anything: from then on the old master key opens nothing in this database.

The order of a rotation without downtime (every process must be able to read what any other process writes):
1. ``harbour keys new``; give every process of the service the new key in its ring (current key unchanged).
2. Make the new key current (old key in the ring) in every process.
3. ``harbour keys rotate <service>``, then take the old key out of the ring.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harbour.db import create_pool
from harbour.pii import (
    KeyTableStatus,
    PersonalDataVault,
    PurgeOutcome,
    key_table_status,
    new_master_key,
    purge_dead_key_copies,
)
from harbour.service import ServiceDefinition, default_endpoints
from harbour.settings import HarbourSettings, get_settings
from harbour_tools.cli import app, console, fail

keys_app = typer.Typer(help="Master keys of the personal-data vault: rotate them, purge old copies.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(keys_app, name="keys")


def _definition(name: str) -> ServiceDefinition:
    from services import registry  # the services are only imported by the commands that need them

    if name not in registry.available():
        fail(f"no service named {name!r}; services in this tree: {', '.join(registry.available()) or 'none'}")
    return registry.definition(name)


async def _pool(definition: ServiceDefinition, settings: HarbourSettings) -> asyncpg.Pool:
    url = default_endpoints(definition, settings).database_url
    try:
        return await create_pool(url, min_size=1, max_size=2)
    except asyncpg.InvalidCatalogNameError:
        fail(f"the {definition.name} database ({url.rpartition('/')[2]}) does not exist: has the service run here?")


@dataclass(frozen=True)
class Rotation:
    rewrapped: int
    left_behind: dict[int, int]  # keys still wrapped by another version after the run (a process still wraps so)
    purge: PurgeOutcome
    status: KeyTableStatus


async def rotate(
    pool: asyncpg.Pool,
    vault: PersonalDataVault,
    *,
    batch_size: int = 500,
    pause: float = 0.0,
    purge_wait: float = 60.0,
    progress: Progress | None = None,
) -> Rotation:
    """Re-wrap every key another master key version wraps under the vault's current one; then purge and check."""
    async with pool.acquire() as conn:
        before = await key_table_status(conn)
    to_rewrap = {v: n for v, n in before.live_by_master_version.items() if v != vault.master_key_version}
    unknown = sorted(set(to_rewrap) - set(vault.master_key_versions))
    if unknown:
        fail(
            f"keys wrapped by master key version(s) {unknown} are in the table, and this process does not have them: "
            'put them in HARBOUR_MASTER_KEY_RING (JSON {"<version>": "<base64 key>"})'
        )
    task = None
    if progress is not None:
        task = progress.add_task(f"re-wrapping under version {vault.master_key_version}", total=sum(to_rewrap.values()))
    rewrapped = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            done = await vault.rewrap_batch(conn, limit=batch_size)
        rewrapped += done
        if progress is not None and task is not None:
            # Keys created under an old version while we run make the total grow; the bar follows.
            total = max(progress.tasks[task].total or 0, rewrapped)
            progress.update(task, completed=rewrapped, total=total)
        if done < batch_size:
            break
        if pause:
            await asyncio.sleep(pause)  # leave room for the services' own work on a busy database
    purge = await purge_dead_key_copies(pool, wait_seconds=purge_wait)
    async with pool.acquire() as conn:
        after = await key_table_status(conn)
    left = {v: n for v, n in after.live_by_master_version.items() if v != vault.master_key_version}
    return Rotation(rewrapped, left, purge, after)


def _settings_vault(settings: HarbourSettings) -> PersonalDataVault:
    return PersonalDataVault.from_settings(settings)


@keys_app.command("new")
def new() -> None:
    """Print a fresh random master key (base64 of 32 bytes) for the secret store; nothing else is changed."""
    print(new_master_key())


@keys_app.command("status")
def status(
    service: str = typer.Argument(..., help="the service whose keys table to read (intake, tracks, ...)"),
) -> None:
    """Live keys per master key version, erased persons, purges still pending, and the versions known here."""
    definition = _definition(service)
    settings = get_settings()

    async def read() -> KeyTableStatus:
        pool = await _pool(definition, settings)
        try:
            async with pool.acquire() as conn:
                return await key_table_status(conn)
        finally:
            await pool.close()

    found = asyncio.run(read())
    vault = _settings_vault(settings)
    table = Table(title=f"{service}: person keys")
    table.add_column("master key version")
    table.add_column("live keys", justify="right")
    table.add_column("known to this process")
    for version, count in sorted(found.live_by_master_version.items()):
        current = " (current)" if version == vault.master_key_version else ""
        table.add_row(str(version), str(count), ("yes" + current) if version in vault.master_key_versions else "no")
    console.print(table)
    console.print(f"erased persons: {found.erased}; purges pending: {found.pending_purges}", highlight=False)


@keys_app.command("rotate")
def rotate_command(
    service: str = typer.Argument(..., help="the service whose keys to re-wrap (intake, tracks, housing)"),
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="keys re-wrapped per transaction"),
    pause: float = typer.Option(0.0, "--pause", min=0.0, help="seconds between batches, to spare a busy database"),
    purge_wait: float = typer.Option(60.0, "--purge-wait", help="seconds to wait for older transactions to end"),
) -> None:
    """Re-wrap every person key under the current master key; purge the old copies; retire the old versions."""
    definition = _definition(service)
    settings = get_settings()
    vault = _settings_vault(settings)

    async def run() -> Rotation:
        pool = await _pool(definition, settings)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console) as progress:  # fmt: skip
                return await rotate(pool, vault, batch_size=batch_size, pause=pause, purge_wait=purge_wait,
                                    progress=progress)  # fmt: skip
        finally:
            await vault.close()
            await pool.close()

    result = asyncio.run(run())
    console.print(f"{result.rewrapped} key(s) re-wrapped under master key version {vault.master_key_version}",
                  highlight=False)  # fmt: skip
    if result.left_behind:
        fail(
            f"keys under version(s) {sorted(result.left_behind)} were created meanwhile "
            f"({sum(result.left_behind.values())}): a process still wraps with an old key; finish the roll-out of "
            "the new current key, then run this again",
            code=2,
        )
    if result.purge.pending:
        fail(f"old copies are still in the keys table's pages: {result.purge.held_back_by}; run "
             f"`harbour keys purge {service}` once that is over", code=2)  # fmt: skip
    retired = [v for v in vault.master_key_versions if v != vault.master_key_version]
    console.print(
        f"no key of {service} is wrapped by another version and no old copy is left in the table's pages: "
        + (f"version(s) {retired} open nothing here; take them out of HARBOUR_MASTER_KEY_RING" if retired else "done"),
        highlight=False,
    )


@keys_app.command("purge")
def purge_command(
    service: str = typer.Argument(..., help="the service whose keys table to rewrite"),
    wait: float = typer.Option(60.0, "--wait", help="seconds to wait for older transactions to end"),
) -> None:
    """Rewrite the keys table so that no dead copy of an erased or re-wrapped key is left in its pages."""
    definition = _definition(service)
    settings = get_settings()

    async def run() -> PurgeOutcome:
        pool = await _pool(definition, settings)
        try:
            return await purge_dead_key_copies(pool, wait_seconds=wait)
        finally:
            await pool.close()

    outcome = asyncio.run(run())
    if outcome.pending:
        fail(f"{outcome.pending} purge(s) still pending: {outcome.held_back_by}", code=2)
    console.print(f"{outcome.purged} purge(s) done, the table rewritten {outcome.rewrites} time(s); none pending",
                  highlight=False)  # fmt: skip
