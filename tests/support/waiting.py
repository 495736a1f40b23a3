"""Waiting for an asynchronous outcome in a test without a fixed sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0, interval: float = 0.05) -> None:
    """Poll ``predicate`` until it holds; fail with TimeoutError after ``timeout`` seconds (never a fixed sleep)."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(interval)
