"""The custody contract, once, for every service that acts on a case: subclass :class:`CustodyContract` per service.

A transfer moves the whole case (harbour/custody.py): from the acceptance only the receiving centre may act
on the service's part of the case; the former centre reads what was recorded in its own period and nothing
after; any other centre gets 404 as if the case did not exist. A subclass says how its service learns of a
case and of a transfer, and gives two probes:

* ``act(case_id, centre)``: the HTTP status of a command by ``centre``'s staff on the case that must *change
  nothing whatever the answer* when the centre may act (a body that passes validation but breaks a domain
  rule, giving 422), so the probe can be repeated at every step. 403 or 404 means: may not act.
* ``history(case_id, centre)``: what ``centre`` reads of the case's history (a list of fact ids or types it
  sees), or None when it gets 404. ``record(case_id, centre)`` records one more fact by the owner, returning
  its id as ``history`` lists it.

The tests then hold every service to the same promise:
* after an accepted transfer only the receiving centre acts, the former one gets 403, a stranger 404;
* the former centre reads the facts of its own period and none recorded after the hand-over;
* a chained transfer A → B → C leaves exactly one centre acting, and B keeps only its own period;
* a transfer delivered twice, or the older of two delivered last, never moves the case back.
"""

from __future__ import annotations

from typing import Any

CENTRES = ("centre-payoke", "centre-pag-asa", "centre-surya")
MAY_ACT = frozenset({200, 201, 202, 204, 409, 422})  # allowed through access, whatever the domain then said
MAY_NOT_ACT = frozenset({403, 404})


class CustodyContract:
    """Not collected itself (no ``Test`` prefix): each service's ``Test...`` subclass runs these tests.

    Subclasses provide the methods below; ``new_case_id`` must give a fresh id per call (tests share a database).
    """

    def new_case_id(self) -> str:
        raise NotImplementedError

    async def open_case(self, case_id: str, centre: str) -> None:
        """Make the service follow ``case_id`` as admitted by ``centre`` (e.g. intake's CaseOpened upstream)."""
        raise NotImplementedError

    async def transfer(self, case_id: str, from_centre: str, to_centre: str) -> None:
        """Have the transfer accepted and applied by the service (tracks' TransferAccepted, consumed)."""
        raise NotImplementedError

    async def redeliver_transfers(self, case_id: str) -> None:
        """Apply every transfer of the case once more, oldest last (a redelivery, out of order)."""
        raise NotImplementedError

    async def act(self, case_id: str, centre: str) -> int:
        raise NotImplementedError

    async def record(self, case_id: str, centre: str) -> Any:
        raise NotImplementedError

    async def history(self, case_id: str, centre: str) -> list[Any] | None:
        raise NotImplementedError

    # ---- the promise ----------------------------------------------------------------------------------------

    async def _acting(self, case_id: str) -> list[str]:
        statuses = {c: await self.act(case_id, c) for c in CENTRES}
        unexpected = {c: s for c, s in statuses.items() if s not in MAY_ACT | MAY_NOT_ACT}
        assert not unexpected, f"a probe answered neither 'may act' nor 'may not': {unexpected}"
        return [c for c, s in statuses.items() if s in MAY_ACT]

    async def test_before_any_transfer_only_the_admitting_centre_acts(self):
        case_id = self.new_case_id()
        await self.open_case(case_id, CENTRES[0])
        assert await self._acting(case_id) == [CENTRES[0]]
        assert await self.history(case_id, CENTRES[2]) is None

    async def test_after_an_accepted_transfer_only_the_receiving_centre_acts(self):
        case_id = self.new_case_id()
        await self.open_case(case_id, CENTRES[0])
        await self.transfer(case_id, CENTRES[0], CENTRES[2])
        assert await self._acting(case_id) == [CENTRES[2]]
        assert await self.act(case_id, CENTRES[0]) == 403  # it knows the case: not its part any more
        assert await self.act(case_id, CENTRES[1]) == 404  # a stranger learns nothing

    async def test_the_former_centre_reads_its_own_period_and_nothing_recorded_after_the_hand_over(self):
        case_id = self.new_case_id()
        await self.open_case(case_id, CENTRES[0])
        before = await self.record(case_id, CENTRES[0])
        await self.transfer(case_id, CENTRES[0], CENTRES[1])
        after = await self.record(case_id, CENTRES[1])
        former = await self.history(case_id, CENTRES[0])
        receiving = await self.history(case_id, CENTRES[1])
        assert former is not None and before in former and after not in former
        assert receiving is not None and before in receiving and after in receiving
        assert await self.history(case_id, CENTRES[2]) is None

    async def test_a_chained_transfer_leaves_exactly_one_centre_acting_and_each_former_its_own_period(self):
        case_id = self.new_case_id()
        a, b, c = CENTRES
        await self.open_case(case_id, a)
        first = await self.record(case_id, a)
        await self.transfer(case_id, a, b)
        second = await self.record(case_id, b)
        await self.transfer(case_id, b, c)
        third = await self.record(case_id, c)
        assert await self._acting(case_id) == [c]
        seen_by_b = await self.history(case_id, b)
        assert seen_by_b is not None and first in seen_by_b and second in seen_by_b and third not in seen_by_b
        seen_by_a = await self.history(case_id, a)
        assert seen_by_a is not None and first in seen_by_a and second not in seen_by_a

    async def test_a_redelivered_or_late_older_transfer_never_moves_the_case_back(self):
        case_id = self.new_case_id()
        a, b, c = CENTRES
        await self.open_case(case_id, a)
        await self.transfer(case_id, a, b)
        await self.transfer(case_id, b, c)
        await self.redeliver_transfers(case_id)
        assert await self._acting(case_id) == [c]
