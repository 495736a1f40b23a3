"""Migrated template databases: each set of migrations is applied once per test process, and every test database
is a copy of its template (PostgreSQL ``CREATE DATABASE ... TEMPLATE``), instead of being migrated again.

A copy is the same database the migrations would have built (schema_migrations included, so a service starting
on it applies nothing); the services still run ``migrate`` at start, as in production. A template is never
connected to after it is built: PostgreSQL copies only a database nobody is connected to.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg

from harbour.db import HARBOUR_MIGRATIONS, create_pool, database_url, drop_database, migrate

# (server, scopes and folders) -> template name; built by this process, dropped by drop_templates().
_TEMPLATES: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_BUILDING: dict[tuple[str, tuple[tuple[str, str], ...]], asyncio.Task[str]] = {}


def migrations_of(scope: str | None = None, directory: Path | None = None) -> dict[str, Path]:
    """Harbour's own migrations, and a service's (``scope``: its name) when it has any."""
    dirs = {"harbour": HARBOUR_MIGRATIONS}
    if scope is not None and directory is not None:
        dirs[scope] = directory
    return dirs


async def _build(server_url: str, dirs: dict[str, Path]) -> str:
    # The process id keeps the templates of parallel workers (and of other checkouts' suites) apart.
    name = f"harbour_test_template_{os.getpid()}_{len(_TEMPLATES) + len(_BUILDING)}_{'_'.join(dirs)}"[:63]
    await drop_database(server_url, name)  # left over by an earlier process of the same id
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    pool = await create_pool(database_url(server_url, name), min_size=1, max_size=1)
    try:
        await migrate(pool, dirs)
    finally:
        await pool.close()
    return name


async def template(server_url: str, dirs: dict[str, Path]) -> str:
    """The migrated template for ``dirs`` on ``server_url``, built on first use (once, however many ask)."""
    key = (server_url, tuple((scope, str(path)) for scope, path in dirs.items()))
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    building = _BUILDING.get(key)
    if building is None or building.get_loop() is not asyncio.get_running_loop():
        building = _BUILDING[key] = asyncio.get_running_loop().create_task(_build(server_url, dirs))
    try:
        name = await asyncio.shield(building)
    finally:
        if building.done():
            _BUILDING.pop(key, None)
    _TEMPLATES[key] = name
    return name


async def create_migrated(server_url: str, database: str, dirs: dict[str, Path]) -> bool:
    """Create ``database`` as a copy of the template for ``dirs``, unless it exists; says whether it created it."""
    source = await template(server_url, dirs)
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            return False
        await conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{source}"')
        return True
    finally:
        await conn.close()


async def drop_templates() -> None:
    for (server_url, _), name in list(_TEMPLATES.items()):
        await drop_database(server_url, name)
    _TEMPLATES.clear()
