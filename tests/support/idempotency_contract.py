"""The ``Idempotency-Key`` contract, once, for every service: subclass :class:`IdempotencyContract` per service.

A subclass names one command of its service (``prepare`` makes a fresh target for an organisation and returns
the command; ``effects`` counts what that command changed) and the two organisations that may both send it.
The same tests then hold every service to the same promise (harbour/idempotency.py):

* a retry of a committed command gets the original status and body, and changes nothing;
* the same key with another request is a 422 naming the header, and changes nothing;
* concurrent duplicates have one effect and one answer;
* two organisations' keys never collide.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

HEADER = "Idempotency-Key"


@dataclass
class Command:
    method: str
    path: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    target: str  # what ``effects`` counts on (a stream, a case)
    other_body: dict[str, Any] | None = None  # the same command with another body
    status: int = 201
    extra: dict[str, Any] = field(default_factory=dict)


class IdempotencyContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...`` subclass runs these tests."""

    orgs: tuple[str, str]

    def client(self) -> httpx.AsyncClient:
        raise NotImplementedError

    async def prepare(self, org: str) -> Command:
        raise NotImplementedError

    async def effects(self, command: Command) -> int:
        raise NotImplementedError

    async def _send(self, command: Command, key: str | None, body: Any = ...) -> httpx.Response:
        headers = {**command.headers, **({HEADER: key} if key is not None else {})}
        return await self.client().request(command.method, command.path, headers=headers,
                                           json=command.body if body is ... else body)  # fmt: skip

    async def test_a_retry_of_a_committed_command_gets_the_original_status_and_body_and_changes_nothing(self):
        command = await self.prepare(self.orgs[0])
        key = uuid.uuid4().hex
        first = await self._send(command, key)
        assert first.status_code == command.status, first.text
        applied = await self.effects(command)
        assert applied == 1
        again = await self._send(command, key)
        assert again.status_code == first.status_code
        assert again.content == first.content  # byte for byte: the answer as first sent
        assert again.headers.get("Location") == first.headers.get("Location")
        assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
        assert await self.effects(command) == applied

    async def test_the_same_key_with_another_body_is_a_422_naming_the_header_and_changes_nothing(self):
        command = await self.prepare(self.orgs[0])
        key = uuid.uuid4().hex
        assert (await self._send(command, key)).status_code == command.status
        other = await self._send(command, key, command.other_body)
        assert other.status_code == 422, other.text
        assert other.headers["content-type"].startswith("application/problem+json")
        assert other.json()["field"] == HEADER
        assert await self.effects(command) == 1

    async def test_concurrent_duplicates_have_one_effect_and_one_answer(self):
        command = await self.prepare(self.orgs[0])
        key = uuid.uuid4().hex
        # Three at once: within a caller's share of in-flight requests (harbour.http.shedding), all racing.
        answers = await asyncio.gather(*(self._send(command, key) for _ in range(3)))
        assert [a.status_code for a in answers] == [command.status] * 3, [a.text for a in answers]
        assert len({a.content for a in answers}) == 1
        assert sum(1 for a in answers if "Idempotent-Replayed" not in a.headers) == 1
        assert await self.effects(command) == 1

    async def test_the_same_key_from_two_organisations_never_collides(self):
        key = uuid.uuid4().hex
        mine, theirs = await self.prepare(self.orgs[0]), await self.prepare(self.orgs[1])
        first, second = await self._send(mine, key), await self._send(theirs, key)
        assert (first.status_code, second.status_code) == (mine.status, theirs.status), (first.text, second.text)
        assert "Idempotent-Replayed" not in second.headers
        assert await self.effects(mine) == 1 and await self.effects(theirs) == 1

    async def test_a_malformed_key_is_a_422_naming_the_header_and_changes_nothing(self):
        command = await self.prepare(self.orgs[0])
        answer = await self._send(command, "has spaces")
        assert answer.status_code == 422 and answer.json()["field"] == HEADER
        assert await self.effects(command) == 0
