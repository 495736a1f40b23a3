"""Housing: the beds of each centre's shelters, placements, the waiting list, and a person's moves.

Consistency boundary, chosen on purpose: **one aggregate per centre's shelter network**
(:class:`ShelterNetwork`, stream ``shelter-network-<centre>``) holds every bed of that centre's shelters,
who occupies it, the centre's waiting list and the requests other centres addressed to it. Every bed
assignment of a centre is therefore decided on one stream and appended with its expected version: two
requests decided concurrently on the same version cannot both commit, the loser re-reads and finds the
bed taken, so a centre can never hold more placements than beds. One stream per *shelter* would keep
that too, but a centre-wide waiting list (a person needs *a* bed of the centre, in whichever house)
would then span streams, and a freed bed in one house could not serve the person waiting first, or one
person could get two beds. Load allows it: a centre has a few dozen beds and a few hundred placements a
year, so contention on one stream per centre is negligible.

**Capacity serves the waiting list whenever it appears**: a new shelter, a bed added, a bed back in service
or freed by an exit each serve the centre's waiting list in one pass, most urgent first, then the earliest
request, each request taking the fitting free bed with the fewest features it does not need. Without that, a
person waiting "tonight" saw a bed of a new shelter go to a later "planned" request that came in after it.

Dates are calendar days where the case is (``harbour.clock.local_day``), passed in by the command layer:
this module never turns a moment into a day itself.

A person's path (shelter → transitional → independent, then the end of housing) is a second, smaller
aggregate per case (:class:`Placement`, stream ``placement-<case id>``). The application records a
shelter exit in both streams in one transaction (``PlacementExited`` frees the bed, ``PersonMoved`` or
``HousingEnded`` tells the person's path). A case holds at most one open request or bed per network;
when a case waits with two centres, the first bed assigned leads the application to withdraw the other
request (``WithdrawalReason.PLACED_ELSEWHERE``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from harbour.aggregate import Aggregate
from harbour.errors import RuleViolation
from harbour.events import DomainEvent
from harbour.pii import Sealed
from schemas.housing import (
    RESTRICTIONS,
    BedAdded,
    BedAssigned,
    BedConstraint,
    BedReturnedToService,
    BedSpec,
    BedTakenOutOfService,
    CrossCentreDeclineReason,
    CrossCentrePlacementAccepted,
    CrossCentrePlacementDeclined,
    CrossCentrePlacementRequested,
    ExitReason,
    HousingEnded,
    HousingKind,
    PersonMoved,
    PlacementExited,
    PlacementRequested,
    PlacementRequestWithdrawn,
    PlacementSource,
    PlacementWaitlisted,
    ShelterRegistered,
    Urgency,
    WaitlistServed,
    WithdrawalReason,
    case_key_of,
)
from schemas.intake import Centre

URGENCY_RANK: dict[Urgency, int] = {urgency: rank for rank, urgency in enumerate(Urgency)}
BedKey = tuple[str, str]  # (shelter id, bed id): bed ids are unique within a shelter only


@dataclass(slots=True)
class Bed:
    shelter_id: str
    bed_id: str
    constraints: frozenset[BedConstraint]
    in_service: bool = True
    occupant: str | None = None  # case id
    occupied_since: date | None = None

    @property
    def key(self) -> BedKey:
        return (self.shelter_id, self.bed_id)

    @property
    def free(self) -> bool:
        return self.in_service and self.occupant is None


@dataclass(frozen=True, slots=True)
class OpenRequest:
    request_id: str
    case_id: str
    needs: frozenset[BedConstraint]
    urgency: Urgency
    requested_at: datetime
    seq: int  # arrival order in the stream: breaks ties between equal times deterministically
    status: str  # "new" | "awaiting-acceptance" (cross-centre) | "waiting"

    @property
    def order_key(self) -> tuple[int, datetime, int]:
        return (URGENCY_RANK[self.urgency], self.requested_at, self.seq)


# -- pure rules -------------------------------------------------------------------------------------------


def fits(needs: Iterable[BedConstraint], bed: Iterable[BedConstraint]) -> bool:
    """A bed fits when it offers every need and its restrictions (women/men only) are among the needs,
    so that a request needing nothing special never lands in a women-only room."""
    needs, bed = frozenset(needs), frozenset(bed)
    return needs <= bed and (bed & RESTRICTIONS) <= needs


def choose_bed(beds: Iterable[Bed], needs: frozenset[BedConstraint]) -> Bed | None:
    """The free, in-service, fitting bed with the fewest features the person does not need: an
    accessible bed or a family room is kept for whoever needs it. Ties go to the lowest ids."""
    candidates = [bed for bed in beds if bed.free and fits(needs, bed.constraints)]
    return min(candidates, key=lambda b: (len(b.constraints - needs), b.key), default=None)


def waiting_order(waiting: Iterable[OpenRequest]) -> list[OpenRequest]:
    """The waiting list in serving order: most urgent first, then the earliest request."""
    return sorted(waiting, key=lambda r: r.order_key)


def next_to_serve(waiting: Iterable[OpenRequest], bed: Bed) -> OpenRequest | None:
    """The waiting request a freed bed goes to: the first in serving order that the bed fits."""
    if not bed.free:
        return None
    return next((r for r in waiting_order(waiting) if fits(r.needs, bed.constraints)), None)


# -- the shelter network of one centre -------------------------------------------------------------------


class ShelterNetwork(Aggregate):
    """All shelters, beds, placements and the waiting list of one centre. ``id`` is the centre's id,
    one of :class:`schemas.intake.Centre` (``centre-payoke``...), the ``org`` of that centre's tokens."""

    stream_type = "shelter-network"

    def __init__(self, id: str) -> None:
        Centre(id)  # ValueError for anything but a recognised centre: a typo would open a phantom network
        super().__init__(id)
        self.shelters: set[str] = set()  # shelter ids (names and addresses are housing's, in no event)
        self.beds: dict[BedKey, Bed] = {}
        self.requests: dict[str, OpenRequest] = {}  # open requests only
        self.bed_of_case: dict[str, BedKey] = {}
        self.request_ids: set[str] = set()  # every request id ever seen: ids are never reused
        self._arrivals = 0

    @property
    def centre(self) -> str:
        return self.id

    @property
    def case_key(self) -> str:
        # The stream spans many cases; its own key (used for shelter and bed events) is the stream id,
        # which can never be mistaken for a case id.
        return self.stream_id

    def case_key_for(self, event: DomainEvent) -> str:
        """Each event is stored and published under its own case (so ``read_case`` and the Kafka key of a
        case's events agree across the network and the person's stream); shelter and bed events, which
        concern no case, under the network."""
        return case_key_of(event, default=self.stream_id)

    @property
    def waiting(self) -> list[OpenRequest]:
        return waiting_order(r for r in self.requests.values() if r.status == "waiting")

    def register_shelter(self, *, shelter_id: str, beds: Mapping[str, Iterable[BedConstraint]], on: date) -> None:
        """Register a shelter with its beds; its beds serve the waiting list at once (``on``: today, where the
        case is). Its name and secret address are not arguments: the service keeps them in its own tables only,
        so they can never reach an event, a topic or another service."""
        if shelter_id in self.shelters:
            raise RuleViolation("this shelter is already registered", field="shelter_id")
        if not beds:
            raise RuleViolation("a shelter has at least one bed", field="beds")
        specs = tuple(BedSpec(bed_id=b, constraints=frozenset(c)) for b, c in beds.items())
        if any(RESTRICTIONS <= spec.constraints for spec in specs):
            raise RuleViolation("a bed cannot be both women-only and men-only", field="beds")
        self._record(ShelterRegistered(shelter_id=shelter_id, centre=self.centre, beds=specs))
        self._serve_waiting_list(on)

    def add_bed(self, *, shelter_id: str, bed_id: str, constraints: Iterable[BedConstraint], on: date) -> None:
        """A bed added to a registered shelter (a room refitted, a bunk bought); it serves the waiting list."""
        if shelter_id not in self.shelters:
            raise RuleViolation("no such shelter in this centre", field="shelter_id")
        if (shelter_id, bed_id) in self.beds:
            raise RuleViolation("this shelter already has a bed with this id", field="bed_id")
        constraints = frozenset(constraints)
        if RESTRICTIONS <= constraints:
            raise RuleViolation("a bed cannot be both women-only and men-only", field="constraints")
        self._record(BedAdded(shelter_id=shelter_id, bed_id=bed_id, constraints=constraints, on=on))
        self._serve_waiting_list(on)

    def take_bed_out_of_service(self, *, shelter_id: str, bed_id: str, on: date) -> None:
        bed = self._bed(shelter_id, bed_id)
        if not bed.in_service:
            raise RuleViolation("this bed is already out of service", field="bed_id")
        if bed.occupant is not None:
            # Taking an occupied bed away would leave a person without the bed the count says they have.
            raise RuleViolation("an occupied bed cannot be taken out of service", field="bed_id")
        self._record(BedTakenOutOfService(shelter_id=shelter_id, bed_id=bed_id, on=on))

    def return_bed_to_service(self, *, shelter_id: str, bed_id: str, on: date) -> None:
        bed = self._bed(shelter_id, bed_id)
        if bed.in_service:
            raise RuleViolation("this bed is in service", field="bed_id")
        self._record(BedReturnedToService(shelter_id=shelter_id, bed_id=bed_id, on=on))
        self._serve_waiting_list(on)

    def request_placement(
        self,
        *,
        request_id: str,
        case_id: str,
        needs: Iterable[BedConstraint],
        urgency: Urgency,
        source: PlacementSource,
        requested_at: datetime,
        on: date,
    ) -> None:
        """A bed in this centre's own shelters: assigned at once if one fits, else the request waits. ``on`` is
        the day of ``requested_at`` where the case is (the command layer's ``local_day``), never its UTC date."""
        needs = self._check_new_request(request_id, case_id, needs)
        self._record(
            PlacementRequested(
                request_id=request_id,
                case_id=case_id,
                centre=self.centre,
                needs=needs,
                urgency=urgency,
                source=source,
                requested_at=requested_at,
            )
        )
        self._assign_or_waitlist(self.requests[request_id], on)

    def request_cross_centre_placement(
        self,
        *,
        request_id: str,
        case_id: str,
        from_centre: str,
        needs: Iterable[BedConstraint],
        urgency: Urgency,
        requested_at: datetime,
    ) -> None:
        """Another centre asks for a bed here (command on the *host's* network): nothing is assigned
        until this centre accepts, since its beds are its own to give."""
        if from_centre == self.centre:
            raise RuleViolation("a centre places in its own shelters with a placement request", field="from_centre")
        needs = self._check_new_request(request_id, case_id, needs)
        self._record(
            CrossCentrePlacementRequested(
                request_id=request_id,
                case_id=case_id,
                from_centre=from_centre,
                host_centre=self.centre,
                needs=needs,
                urgency=urgency,
                requested_at=requested_at,
            )
        )

    def accept_cross_centre_placement(self, *, request_id: str, on: date) -> None:
        request = self._awaiting_acceptance(request_id)
        self._record(
            CrossCentrePlacementAccepted(request_id=request_id, case_id=request.case_id, host_centre=self.centre, on=on)
        )
        self._assign_or_waitlist(self.requests[request_id], on)

    def decline_cross_centre_placement(self, *, request_id: str, reason: CrossCentreDeclineReason, on: date) -> None:
        request = self._awaiting_acceptance(request_id)
        self._record(
            CrossCentrePlacementDeclined(
                request_id=request_id, case_id=request.case_id, host_centre=self.centre, reason=reason, on=on
            )
        )

    def withdraw_request(self, *, request_id: str, reason: WithdrawalReason, on: date) -> None:
        request = self.requests.get(request_id)
        if request is None:
            raise RuleViolation("no open placement request with this id", field="request_id")
        self._record(PlacementRequestWithdrawn(request_id=request_id, case_id=request.case_id, reason=reason, on=on))

    def record_exit(self, *, case_id: str, reason: ExitReason, on: date) -> None:
        """The person leaves the shelter: the bed is free in the same event and, in the same command,
        goes to the first fitting person waiting."""
        key = self.bed_of_case.get(case_id)
        if key is None:
            raise RuleViolation("this person has no bed in this centre's shelters", field="case_id")
        bed = self.beds[key]
        if bed.occupied_since is not None and on < bed.occupied_since:
            raise RuleViolation("an exit cannot precede the placement", field="on")
        self._record(
            PlacementExited(case_id=case_id, shelter_id=bed.shelter_id, bed_id=bed.bed_id, reason=reason, on=on)
        )
        self._serve_waiting_list(on)

    # -- decisions shared by the commands ---------------------------------------------------------------

    def _check_new_request(
        self, request_id: str, case_id: str, needs: Iterable[BedConstraint]
    ) -> frozenset[BedConstraint]:
        needs = frozenset(needs)
        if request_id in self.request_ids:
            raise RuleViolation("this request id was already used", field="request_id")
        if case_id in self.bed_of_case or any(r.case_id == case_id for r in self.requests.values()):
            # One person, one bed: a second open request could end in two beds for one person.
            raise RuleViolation("this person already has a bed or an open request here", field="case_id")
        if RESTRICTIONS <= needs:
            raise RuleViolation("a request cannot need both women-only and men-only", field="needs")
        if not any(fits(needs, bed.constraints) for bed in self.beds.values()):
            # Waiting for a bed that does not exist would be waiting forever: ask another centre.
            raise RuleViolation("no bed of this centre's shelters can ever fit these needs", field="needs")
        return needs

    def _assign_or_waitlist(self, request: OpenRequest, on: date) -> None:
        bed = choose_bed(self.beds.values(), request.needs)
        if bed is not None:
            self._assign(request, bed, on)
            return
        ahead = sum(1 for r in self.waiting if r.order_key < request.order_key)
        self._record(
            PlacementWaitlisted(
                request_id=request.request_id,
                case_id=request.case_id,
                position=ahead + 1,
                waiting=len(self.waiting) + 1,
                on=on,
            )
        )

    def _serve_waiting_list(self, on: date) -> None:
        """Give free beds to the waiting list in serving order, each request the fitting free bed with the fewest
        features it does not need; a request no free bed fits keeps its place (a later one may still be served:
        a women-only room never waits for a man). Called whenever capacity appears."""
        for request in self.waiting:  # a snapshot: each assignment below removes its request from the list
            bed = choose_bed(self.beds.values(), request.needs)
            if bed is None:
                continue
            self._record(
                WaitlistServed(
                    request_id=request.request_id, case_id=request.case_id, waited_since=request.requested_at, on=on
                )
            )
            self._assign(request, bed, on)

    def _assign(self, request: OpenRequest, bed: Bed, on: date) -> None:
        self._record(BedAssigned(request_id=request.request_id, case_id=request.case_id, shelter_id=bed.shelter_id,
                                 bed_id=bed.bed_id, on=on))  # fmt: skip

    def _bed(self, shelter_id: str, bed_id: str) -> Bed:
        if shelter_id not in self.shelters:
            raise RuleViolation("no such shelter in this centre", field="shelter_id")
        bed = self.beds.get((shelter_id, bed_id))
        if bed is None:
            raise RuleViolation("no such bed in this shelter", field="bed_id")
        return bed

    def _awaiting_acceptance(self, request_id: str) -> OpenRequest:
        request = self.requests.get(request_id)
        if request is None or request.status != "awaiting-acceptance":
            raise RuleViolation("no cross-centre request awaits this centre's answer", field="request_id")
        return request

    # -- state ----------------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        match event:
            case ShelterRegistered(shelter_id=sid, beds=specs):
                self.shelters.add(sid)
                for spec in specs:
                    self.beds[(sid, spec.bed_id)] = Bed(sid, spec.bed_id, spec.constraints)
            case BedAdded(shelter_id=sid, bed_id=bid, constraints=constraints):
                self.beds[(sid, bid)] = Bed(sid, bid, constraints)
            case BedTakenOutOfService(shelter_id=sid, bed_id=bid):
                self.beds[(sid, bid)].in_service = False
            case BedReturnedToService(shelter_id=sid, bed_id=bid):
                self.beds[(sid, bid)].in_service = True
            case PlacementRequested() | CrossCentrePlacementRequested():
                status = "new" if isinstance(event, PlacementRequested) else "awaiting-acceptance"
                self._open(event.request_id, event.case_id, event.needs, event.urgency, event.requested_at, status)
            case CrossCentrePlacementAccepted(request_id=rid):
                self.requests[rid] = _with_status(self.requests[rid], "new")
            case PlacementWaitlisted(request_id=rid):
                self.requests[rid] = _with_status(self.requests[rid], "waiting")
            case BedAssigned(request_id=rid, case_id=cid, shelter_id=sid, bed_id=bid, on=on):
                del self.requests[rid]
                bed = self.beds[(sid, bid)]
                bed.occupant, bed.occupied_since = cid, on
                self.bed_of_case[cid] = bed.key
            case CrossCentrePlacementDeclined(request_id=rid) | PlacementRequestWithdrawn(request_id=rid):
                del self.requests[rid]
            case PlacementExited(case_id=cid):
                bed = self.beds[self.bed_of_case.pop(cid)]
                bed.occupant, bed.occupied_since = None, None
            case WaitlistServed():
                pass  # the BedAssigned that follows changes the state
            case _:
                super().apply(event)  # an event it does not know is a TypeError, never silently dropped

    def _open(
        self,
        request_id: str,
        case_id: str,
        needs: frozenset[BedConstraint],
        urgency: Urgency,
        requested_at: datetime,
        status: str,
    ) -> None:
        self._arrivals += 1
        self.request_ids.add(request_id)
        self.requests[request_id] = OpenRequest(
            request_id, case_id, needs, urgency, requested_at, self._arrivals, status
        )


def _with_status(request: OpenRequest, status: str) -> OpenRequest:
    return OpenRequest(
        request.request_id, request.case_id, request.needs, request.urgency, request.requested_at, request.seq, status
    )


# -- one person's housing path ---------------------------------------------------------------------------

_STAGE_RANK = {HousingKind.SHELTER: 0, HousingKind.TRANSITIONAL: 1, HousingKind.INDEPENDENT: 2}


class Placement(Aggregate):
    """Where one person lives over time. ``id`` is the case id."""

    stream_type = "placement"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.stage: HousingKind | None = None  # None: not (or no longer) housed through the centre
        self.since: date | None = None
        self.shelter_id: str | None = None
        self.used_requests: set[str] = set()

    def enter_shelter(self, *, request_id: str, shelter_id: str, on: date) -> None:
        """Record the shelter stay a served request (``BedAssigned``) started."""
        if self.stage is HousingKind.SHELTER:
            raise RuleViolation("the person already lives in a shelter", field="stage")
        if request_id in self.used_requests:
            # Back to a shelter only through a new placement request, which is where beds are counted.
            raise RuleViolation("a return to a shelter needs a new placement request", field="request_id")
        self._check_date(on)
        self._record(
            PersonMoved(case_id=self.id, to=HousingKind.SHELTER, on=on, request_id=request_id, shelter_id=shelter_id)
        )

    def move(self, *, to: HousingKind, on: date, address: Sealed | None = None, event_id: UUID | None = None) -> None:
        """Move forward to transitional or independent housing. The independent address is sealed by
        the caller with ``event_id`` as associated data, so the same id must be passed here."""
        if to is HousingKind.SHELTER:
            raise RuleViolation("a return to a shelter needs a new placement request", field="to")
        if self.stage is not None and _STAGE_RANK[to] <= _STAGE_RANK[self.stage]:
            raise RuleViolation("moves go forward only: shelter, transitional, independent", field="to")
        if (to is HousingKind.INDEPENDENT) != (address is not None):
            raise RuleViolation("an address is given for independent housing, and only for it", field="address")
        self._check_date(on)
        self._record(PersonMoved(case_id=self.id, to=to, on=on, address=address), event_id=event_id)

    def end(self, *, reason: ExitReason, on: date) -> None:
        if self.stage is None:
            raise RuleViolation("the person is not housed through the centre", field="stage")
        self._check_date(on)
        self._record(HousingEnded(case_id=self.id, left=self.stage, reason=reason, on=on))

    def _check_date(self, on: date) -> None:
        if self.since is not None and on < self.since:
            raise RuleViolation("a move cannot precede the previous one", field="on")

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PersonMoved(to=to, on=on, request_id=rid, shelter_id=sid):
                self.stage, self.since, self.shelter_id = to, on, sid
                if rid is not None:
                    self.used_requests.add(rid)
            case HousingEnded(on=on):
                self.stage, self.since, self.shelter_id = None, on, None
            case _:
                super().apply(event)  # an event it does not know is a TypeError, never silently dropped
