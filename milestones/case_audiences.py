"""The ``case_audiences`` read model: who follows each case, in every service that publishes milestones.

Fed inline from the service's own events (a projection in the append's transaction, so the relay always
sees the facts of an event it publishes no later than the event), and from the other services' events by
consumers ``<service>.case-audiences.<owner>``, one group per upstream topic (each fact arrives on the topic
of the service that owns it):
- intake: the case opens (owning centre, referrer and its file number, minor), a minor is flagged, and
  minority is established or disproved later; a lead opens for the centre a tip is routed to (intake's own);
- legal: the competent prosecution office and its file number; the police report number of a statement
  made to the referring unit; the Immigration Office's involvement once a residence procedure opens;
- tracks: a transfer moves the case to another centre.

Every write is an upsert of the columns its fact owns, so the facts may arrive in any order across topics
(a transfer seen before the case opened keeps the receiving centre). The projection names no tables to empty
on rebuild: half the rows come from consumers, which a rebuild does not replay; re-applying the service's
own events over the rows converges to the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import schemas.intake
import schemas.legal
import schemas.tracks
from harbour.db import Connection
from harbour.kafka.consumer import HandlerContext, Subscription
from harbour.organisations import CENTRES
from harbour.projection import Projection
from harbour.store import RecordedEvent
from schemas.milestones import POLICY, CaseFacts, Role

# The upstream contracts must be registered for the consumers to decode them.
_CONTRACTS = (schemas.intake, schemas.legal, schemas.tracks)


@dataclass(frozen=True)
class UpstreamFacts:
    topic: str
    event_types: frozenset[str]
    # The roles these facts resolve: a service consumes them only if its milestones go to such a role (data
    # minimisation: housing never needs to know a case's prosecution office). Intake's facts are always
    # needed: they say the case exists and give the root id of its pseudonyms.
    roles: frozenset[Role] | None


# The facts each upstream service contributes (a service never consumes its own domain topic).
UPSTREAM_FACTS: dict[str, UpstreamFacts] = {
    "intake": UpstreamFacts("intake.events.v1", frozenset({"CaseOpened", "MinorFlagged",
                                                           "GuardianshipReferralRequested", "MinorityEstablished",
                                                           "MinorityDisproved"}), None),
    "legal": UpstreamFacts("legal.events.v1", frozenset({"ProsecutorialFileAssigned", "StatementMade",
                                                         "ResidenceProcedureOpened", "DocumentRequested",
                                                         "ReflectionPeriodStarted", "DocumentIssued"}),
                           frozenset({Role.PROSECUTION, Role.IMMIGRATION_OFFICE})),
    "tracks": UpstreamFacts("tracks.events.v1", frozenset({"TransferAccepted"}), frozenset({Role.OWNING_CENTRE})),
}  # fmt: skip

_UPSERT = """INSERT INTO case_audiences (case_key, {cols}) VALUES ($1, {params})
             ON CONFLICT (case_key) DO UPDATE SET {updates}, updated_at = now()"""


async def _upsert(
    conn: Connection, case_key: str, values: dict[str, Any], updates: dict[str, str] | None = None
) -> None:
    """Insert the row or set ``values``; ``updates`` overrides the SET expression of a column (e.g. COALESCE)."""
    cols = list(values)
    sets = [f"{c} = {(updates or {}).get(c, f'EXCLUDED.{c}')}" for c in cols]
    sql = _UPSERT.format(cols=", ".join(cols), params=", ".join(f"${i + 2}" for i in range(len(cols))),
                         updates=", ".join(sets))  # fmt: skip
    await conn.execute(sql, case_key, *values.values())


class CaseAudiences(Projection):
    name = "harbour.case_audiences"
    tables = ()  # never emptied by a rebuild: see the module's docstring

    # -- intake ---------------------------------------------------------------------------------------------
    async def on_ReferralSubmitted(self, conn: Connection, recorded: RecordedEvent) -> None:
        e = cast(schemas.intake.ReferralSubmitted, recorded.event)
        await _upsert(conn, recorded.case_id, {"root_id": e.referral_id, "owning_centre": e.target_centre.value,
                                               "referring_org": e.referring_organisation_id,
                                               "referrer_file_number": e.referrer_file_number})  # fmt: skip

    async def on_ReferralRedirected(self, conn: Connection, recorded: RecordedEvent) -> None:
        # To another centre: that centre now decides. To a youth centre: the referral leaves the platform and
        # the redirecting centre stays its last owner.
        target = cast(schemas.intake.ReferralRedirected, recorded.event).to_centre.value
        if target in CENTRES:
            await conn.execute("UPDATE case_audiences SET owning_centre = $2, updated_at = now() WHERE case_key = $1",
                               recorded.case_id, target)  # fmt: skip

    async def on_LeadOpened(self, conn: Connection, recorded: RecordedEvent) -> None:
        # A lead (a tip from the public) is followed by the centre it is routed to, and by nobody else: it is
        # the root of its own pseudonym, distinct from the referral a take-up makes (which has its own).
        e = cast(schemas.intake.LeadOpened, recorded.event)
        await _upsert(conn, recorded.case_id, {"root_id": e.lead_id, "owning_centre": e.centre.value})

    async def on_CaseOpened(self, conn: Connection, recorded: RecordedEvent) -> None:
        e = cast(schemas.intake.CaseOpened, recorded.event)
        # COALESCE: a transfer already seen (topics are not ordered among each other) keeps its centre.
        await _upsert(conn, recorded.case_id,
                      {"root_id": e.referral_id, "owning_centre": e.centre.value, "referring_org":
                       e.referring_organisation_id, "referrer_file_number": e.referrer_file_number, "minor": e.minor},
                      {"owning_centre": "COALESCE(case_audiences.owning_centre, EXCLUDED.owning_centre)",
                       "referrer_file_number": "COALESCE(EXCLUDED.referrer_file_number, "
                                               "case_audiences.referrer_file_number)",
                       "minor": "case_audiences.minor OR EXCLUDED.minor"})  # fmt: skip

    async def on_MinorFlagged(self, conn: Connection, recorded: RecordedEvent) -> None:
        # Before admission an upstream service has no row for the referral (it follows cases only): no effect.
        await conn.execute("UPDATE case_audiences SET minor = true, updated_at = now() WHERE case_key = $1",
                           recorded.case_id)  # fmt: skip

    on_GuardianshipReferralRequested = on_MinorFlagged
    # Minority is a case fact at any time (any minor is referred to the Guardianship Service, DOMAIN §1);
    # disproved, the person is an adult and the service has nothing more to learn about them.
    on_MinorityEstablished = on_MinorFlagged

    async def on_MinorityDisproved(self, conn: Connection, recorded: RecordedEvent) -> None:
        await conn.execute("UPDATE case_audiences SET minor = false, updated_at = now() WHERE case_key = $1",
                           recorded.case_id)  # fmt: skip

    # -- legal ----------------------------------------------------------------------------------------------
    async def on_ProsecutorialFileAssigned(self, conn: Connection, recorded: RecordedEvent) -> None:
        e = cast(schemas.legal.ProsecutorialFileAssigned, recorded.event)
        await _upsert(conn, recorded.case_id, {"prosecution_office": e.office, "prosecution_file_number":
                                               e.file_number})  # fmt: skip

    async def on_StatementMade(self, conn: Connection, recorded: RecordedEvent) -> None:
        # A statement made to the referring unit itself gives that unit its file number, if it had none.
        e = cast(schemas.legal.StatementMade, recorded.event)
        await conn.execute(
            """UPDATE case_audiences SET referrer_file_number = $3, updated_at = now()
               WHERE case_key = $1 AND referring_org = $2 AND referrer_file_number IS NULL""",
            recorded.case_id, e.unit, e.report_number,
        )  # fmt: skip

    async def on_ResidenceProcedureOpened(self, conn: Connection, recorded: RecordedEvent) -> None:
        # The Immigration Office follows a case from its first residence step, never before (an EU citizen
        # without a procedure is none of its business).
        await _upsert(conn, recorded.case_id, {"immigration_involved": True})

    on_DocumentRequested = on_ResidenceProcedureOpened
    on_ReflectionPeriodStarted = on_ResidenceProcedureOpened
    on_DocumentIssued = on_ResidenceProcedureOpened

    # -- tracks ---------------------------------------------------------------------------------------------
    async def on_TransferAccepted(self, conn: Connection, recorded: RecordedEvent) -> None:
        e = cast(schemas.tracks.TransferAccepted, recorded.event)
        # Only a later transfer moves the case again (a redelivered older one must not move it back).
        await _upsert(conn, recorded.case_id, {"owning_centre": e.to_centre.value, "owning_centre_since":
                                               e.accepted_on},
                      {"owning_centre": "CASE WHEN case_audiences.owning_centre_since > EXCLUDED.owning_centre_since "
                                        "THEN case_audiences.owning_centre ELSE EXCLUDED.owning_centre END",
                       "owning_centre_since": "GREATEST(case_audiences.owning_centre_since, "
                                              "EXCLUDED.owning_centre_since)"})  # fmt: skip


CASE_AUDIENCES = CaseAudiences()


async def on_upstream_fact(ctx: HandlerContext, message: RecordedEvent) -> None:
    """Records a fact another service owns about who follows a case (case_audiences)."""
    await CASE_AUDIENCES.handle(ctx.conn, message)


def upstream_subscriptions(service: str) -> list[Subscription]:
    """The consumers that bring the other services' facts into ``service``'s case_audiences."""
    roles = {role for rule in POLICY if any(s.service == service for s in rule.sources) for role in rule.grants}
    found = []
    for owner, facts in UPSTREAM_FACTS.items():
        if owner != service and (facts.roles is None or facts.roles & roles):
            found.append(Subscription(topic=facts.topic, consumer=f"{service}.case-audiences.{owner}",
                                      handle=on_upstream_fact, event_types=facts.event_types,
                                      description=f"who follows a case: facts from {owner}"))  # fmt: skip
    return found


async def load_facts(conn: Connection, case_key: str) -> tuple[str, CaseFacts] | None:
    """The case's root id and facts, or None while intake's facts about it have not arrived."""
    # The owning centre is the holder in this service's custody periods (harbour.custody) where it has them: the
    # same rows its access rules decide on, written by the consumer that applies the transfer. Read from the
    # separate case-audiences consumer instead, a lagging one sent the receiving centre's first acts to the
    # former centre. case_audiences.owning_centre remains for cases without custody rows (before admission).
    row = await conn.fetchrow(
        """SELECT a.*, (SELECT k.centre FROM case_custody k WHERE k.case_id = a.case_key
                        ORDER BY k.seq DESC LIMIT 1) AS holder
           FROM case_audiences a WHERE a.case_key = $1""",
        case_key,
    )
    if row is None or row["root_id"] is None:
        return None
    facts = CaseFacts(
        owning_centre=row["holder"] or row["owning_centre"], referring_org=row["referring_org"],
        referrer_file_number=row["referrer_file_number"], prosecution_office=row["prosecution_office"],
        prosecution_file_number=row["prosecution_file_number"], minor=row["minor"],
        immigration_involved=row["immigration_involved"],
    )  # fmt: skip
    return row["root_id"], facts
