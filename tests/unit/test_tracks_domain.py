"""Rules of the guidance track (services/tracks/domain.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from uuid import uuid4

import pytest

from harbour.errors import RuleViolation
from harbour.events import EVENT_TYPES
from harbour.pii import Sealed
from schemas.tracks import (
    CaseworkerAssigned,
    Centre,
    EarlyClosureReason,
    GoalFlaggedForReview,
    GoalFlagReason,
    GoalSet,
    GoalStatus,
    LegalStatus,
    Phase,
    PlanReviewed,
    PlanReviewOverdue,
    PlanReviewReminderDue,
    SessionRecorded,
    TrackClosed,
    TrackOpened,
    TrackReopened,
    TransferAccepted,
    TransferDeclined,
)
from services.tracks.domain import (
    MAX_SESSION_MINUTES,
    FormerOwnership,
    Track,
    add_months,
    next_review_due,
    review_deadlines,
)

OPENED = date(2026, 1, 5)
TODAY = date(2026, 3, 1)


def sealed(text: str = "x") -> Sealed:
    return Sealed(person_id="person-1", key_version=1, nonce="bm9uY2U=", ciphertext=text)


def opened(centre: str = "centre-payoke", review_interval_months: int = 3) -> Track:
    track = Track("case-1")
    track.open(
        centre=centre,
        person_id="person-1",
        caseworker_id="cw-1",
        opened_on=OPENED,
        review_interval_months=review_interval_months,
    )
    track.mark_saved()
    return track


def with_goal(track: Track, goal_id: str = "g1", area: str = "juridical") -> Track:
    track.set_goal(goal_id=goal_id, area=area, target_date=date(2026, 6, 1), own_words=sealed(), on=OPENED)
    return track


def last(track: Track) -> object:
    return track.pending()[-1]


def breach(field: str, command: Callable[[], object]) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        command()
    assert caught.value.field == field, caught.value.detail
    return caught.value


def ready_to_close(track: Track) -> Track:
    track.note_proceedings_concluded(on=TODAY)
    track.note_residence_settled(on=TODAY)
    return track


# --- opening, caseworker, phase --------------------------------------------------------------------


def test_a_track_opens_at_the_admitting_centre_in_the_reflection_period() -> None:
    track = Track("case-1")
    track.open(centre="centre-pag-asa", person_id="person-1", caseworker_id="cw-1", opened_on=OPENED)
    event = last(track)
    assert isinstance(event, TrackOpened)
    assert (event.case_id, event.centre, event.phase) == ("case-1", Centre.PAG_ASA, Phase.REFLECTION_PERIOD)
    assert track.owning_centre is Centre.PAG_ASA and track.caseworker_id == "cw-1"
    assert track.stream_id == "track-case-1" and track.case_key == "case-1"
    assert track.former_centres == []


def test_a_track_cannot_be_opened_twice() -> None:
    track = opened()
    breach(
        "case_id",
        lambda: track.open(centre="centre-payoke", person_id="person-1", caseworker_id="cw-1", opened_on=OPENED),
    )


def test_a_track_cannot_open_at_an_unrecognised_centre() -> None:
    breach(
        "centre",
        lambda: Track("c").open(centre="somewhere", person_id="person-1", caseworker_id="cw-1", opened_on=OPENED),
    )


def test_a_track_cannot_open_without_a_caseworker() -> None:
    breach(
        "caseworker_id",
        lambda: Track("c").open(centre="centre-payoke", person_id="person-1", caseworker_id=" ", opened_on=OPENED),
    )


def test_the_first_review_is_due_at_the_interval_after_opening() -> None:
    assert opened().next_review_due == date(2026, 4, 5)
    assert opened(review_interval_months=6).next_review_due == date(2026, 7, 5)


def test_commands_on_a_track_that_was_never_opened_are_refused() -> None:
    breach("case_id", lambda: Track("c").assign_caseworker(caseworker_id="cw-2", on=OPENED))
    breach("case_id", lambda: Track("c").note_proceedings_concluded(on=OPENED))


def test_the_caseworker_can_be_reassigned() -> None:
    track = opened()
    track.assign_caseworker(caseworker_id="cw-2", on=TODAY)
    assert isinstance(last(track), CaseworkerAssigned) and track.caseworker_id == "cw-2"


def test_reassigning_the_caseworker_already_assigned_is_refused() -> None:
    track = opened()
    breach("caseworker_id", lambda: track.assign_caseworker(caseworker_id="cw-1", on=TODAY))


def test_the_track_moves_from_the_reflection_period_to_guidance() -> None:
    track = opened()
    track.change_phase(to="guidance", on=TODAY)
    assert track.phase is Phase.GUIDANCE


def test_the_reflection_period_cannot_be_entered_again() -> None:
    track = opened()
    track.change_phase(to="guidance", on=TODAY)
    breach("to", lambda: track.change_phase(to="reflection-period", on=TODAY))


def test_changing_to_the_current_phase_or_an_unknown_one_is_refused() -> None:
    track = opened()
    breach("to", lambda: track.change_phase(to="reflection-period", on=TODAY))
    breach("to", lambda: track.change_phase(to="holiday", on=TODAY))


def test_aftercare_is_reached_only_by_closing_the_track() -> None:
    breach("to", lambda: opened().change_phase(to="aftercare", on=TODAY))


def test_a_date_before_the_track_opened_is_refused() -> None:
    breach("on", lambda: opened().change_phase(to="guidance", on=date(2025, 12, 31)))


# --- goals -----------------------------------------------------------------------------------------


def test_a_goal_is_set_in_a_support_area_with_the_persons_own_words_sealed() -> None:
    track = opened()
    event_id = uuid4()
    track.set_goal(
        goal_id="g1", area="housing", target_date=date(2026, 9, 1), own_words=sealed("w"), on=TODAY, event_id=event_id
    )
    recorded_id, event = track.pending_with_ids()[-1]
    assert recorded_id == event_id  # the words were sealed with this id as associated data
    assert isinstance(event, GoalSet) and event.own_words == sealed("w")
    assert track.goals["g1"].status is GoalStatus.PLANNED


def test_a_goal_outside_the_four_support_areas_is_refused() -> None:
    breach("area", lambda: with_goal(opened(), area="leisure"))


def test_a_goal_id_cannot_be_used_twice() -> None:
    track = with_goal(opened())
    breach("goal_id", lambda: with_goal(track))


def test_a_target_date_before_the_day_the_goal_is_set_is_refused() -> None:
    track = opened()
    breach(
        "target_date",
        lambda: track.set_goal(goal_id="g", area="housing", target_date=OPENED, own_words=sealed(), on=TODAY),
    )


def test_a_goal_goes_from_planned_to_in_progress_to_achieved() -> None:
    track = with_goal(opened())
    track.progress_goal(goal_id="g1", on=TODAY)
    assert track.goals["g1"].status is GoalStatus.IN_PROGRESS
    track.achieve_goal(goal_id="g1", on=TODAY)
    assert track.goals["g1"].status is GoalStatus.ACHIEVED


def test_a_planned_goal_cannot_be_achieved_without_being_in_progress() -> None:
    track = with_goal(opened())
    breach("status", lambda: track.achieve_goal(goal_id="g1", on=TODAY))


def test_a_goal_in_progress_cannot_be_started_again() -> None:
    track = with_goal(opened())
    track.progress_goal(goal_id="g1", on=TODAY)
    breach("status", lambda: track.progress_goal(goal_id="g1", on=TODAY))


@pytest.mark.parametrize("started", [False, True])
def test_an_open_goal_can_be_dropped_with_a_reason(started: bool) -> None:
    track = with_goal(opened())
    if started:
        track.progress_goal(goal_id="g1", on=TODAY)
    track.drop_goal(goal_id="g1", reason=sealed("why"), on=TODAY)
    assert track.goals["g1"].status is GoalStatus.DROPPED


@pytest.mark.parametrize("finish", ["achieve", "drop"])
def test_an_achieved_or_dropped_goal_can_no_longer_change(finish: str) -> None:
    track = with_goal(opened())
    track.progress_goal(goal_id="g1", on=TODAY)
    if finish == "achieve":
        track.achieve_goal(goal_id="g1", on=TODAY)
    else:
        track.drop_goal(goal_id="g1", reason=sealed(), on=TODAY)
    breach("status", lambda: track.progress_goal(goal_id="g1", on=TODAY))
    breach("status", lambda: track.achieve_goal(goal_id="g1", on=TODAY))
    breach("status", lambda: track.drop_goal(goal_id="g1", reason=sealed(), on=TODAY))


def test_a_goal_that_is_not_in_the_plan_is_refused() -> None:
    breach("goal_id", lambda: opened().progress_goal(goal_id="nope", on=TODAY))


def test_a_goal_cannot_change_before_the_day_it_was_set() -> None:
    track = opened()
    track.set_goal(goal_id="g", area="housing", target_date=date(2026, 9, 1), own_words=sealed(), on=TODAY)
    breach("on", lambda: track.progress_goal(goal_id="g", on=date(2026, 2, 1)))


# --- plan reviews ----------------------------------------------------------------------------------


def test_the_next_review_is_three_calendar_months_later_by_default() -> None:
    assert next_review_due(date(2026, 1, 5)) == date(2026, 4, 5)
    assert next_review_due(date(2026, 11, 20)) == date(2027, 2, 20)


def test_a_review_date_is_clamped_to_the_end_of_a_shorter_month() -> None:
    assert add_months(date(2025, 11, 30), 3) == date(2026, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


def test_the_review_interval_is_a_parameter_of_at_least_one_month() -> None:
    assert next_review_due(date(2026, 1, 5), interval_months=1) == date(2026, 2, 5)
    breach("review_interval_months", lambda: next_review_due(date(2026, 1, 5), interval_months=0))


def test_the_reminder_comes_two_weeks_before_and_overdue_the_day_after_the_due_date() -> None:
    deadlines = review_deadlines(date(2026, 4, 5))
    assert (deadlines.remind_on, deadlines.overdue_on) == (date(2026, 3, 22), date(2026, 4, 6))
    assert review_deadlines(date(2026, 4, 5), reminder_days_before=7).remind_on == date(2026, 3, 29)
    breach("reminder_days_before", lambda: review_deadlines(date(2026, 4, 5), reminder_days_before=-1))


def test_a_plan_review_sets_the_next_due_date_from_the_review_day() -> None:
    track = opened()
    track.review_plan(on=date(2026, 3, 30))
    assert isinstance(last(track), PlanReviewed)
    assert track.next_review_due == date(2026, 6, 30)


def test_a_review_dated_before_the_previous_one_is_refused() -> None:
    track = opened()
    track.review_plan(on=date(2026, 3, 30))
    breach("on", lambda: track.review_plan(on=date(2026, 3, 1)))


def test_the_review_reminder_is_recorded_once_for_a_due_date() -> None:
    track = opened()
    track.remind_plan_review(review_due=date(2026, 4, 5), today=date(2026, 3, 22))
    track.remind_plan_review(review_due=date(2026, 4, 5), today=date(2026, 3, 23))
    assert [type(e) for e in track.pending()] == [PlanReviewReminderDue]


def test_a_review_reminder_before_its_day_is_refused() -> None:
    track = opened()
    breach("today", lambda: track.remind_plan_review(review_due=date(2026, 4, 5), today=date(2026, 3, 21)))


def test_an_overdue_review_is_recorded_the_day_after_it_was_due_and_only_once() -> None:
    track = opened()
    breach("today", lambda: track.mark_plan_review_overdue(review_due=date(2026, 4, 5), today=date(2026, 4, 5)))
    track.mark_plan_review_overdue(review_due=date(2026, 4, 5), today=date(2026, 4, 6))
    track.mark_plan_review_overdue(review_due=date(2026, 4, 5), today=date(2026, 4, 7))
    assert [type(e) for e in track.pending()] == [PlanReviewOverdue]


def test_a_timer_for_a_review_that_already_happened_records_nothing() -> None:
    track = opened()
    track.review_plan(on=date(2026, 3, 30))
    track.mark_saved()
    track.remind_plan_review(review_due=date(2026, 4, 5), today=date(2026, 4, 1))
    track.mark_plan_review_overdue(review_due=date(2026, 4, 5), today=date(2026, 4, 6))
    assert track.pending() == []


def test_review_timers_on_a_closed_track_record_nothing() -> None:
    track = opened()
    track.close(on=TODAY, reason="lost-contact")
    track.mark_saved()
    track.mark_plan_review_overdue(review_due=date(2026, 4, 5), today=date(2026, 4, 6))
    assert track.pending() == []


# --- sessions --------------------------------------------------------------------------------------


def test_a_session_is_recorded_with_its_notes_sealed() -> None:
    track = opened()
    track.record_session(
        session_id="s1",
        held_on=TODAY,
        area="psychosocial",
        kind="home-visit",
        duration_minutes=60,
        attended=True,
        today=TODAY,
        notes=sealed("notes"),
    )
    event = last(track)
    assert isinstance(event, SessionRecorded) and event.notes == sealed("notes")


def record(track: Track, **overrides: object) -> None:
    args: dict[str, object] = dict(
        session_id="s1", held_on=TODAY, area="juridical", kind="accompaniment", duration_minutes=90, attended=False
    )
    args.update(overrides)
    track.record_session(today=TODAY, **args)  # type: ignore[arg-type]


def test_a_missed_session_without_notes_is_recorded() -> None:
    track = opened()
    record(track)
    event = last(track)
    assert isinstance(event, SessionRecorded) and event.notes is None and not event.attended


@pytest.mark.parametrize("minutes", [0, -15, MAX_SESSION_MINUTES + 1])
def test_a_session_without_a_plausible_positive_duration_is_refused(minutes: int) -> None:
    breach("duration_minutes", lambda: record(opened(), duration_minutes=minutes))


def test_a_session_dated_in_the_future_is_refused() -> None:
    breach("held_on", lambda: record(opened(), held_on=date(2026, 3, 2)))


def test_a_session_before_the_track_opened_is_refused() -> None:
    breach("held_on", lambda: record(opened(), held_on=date(2026, 1, 4)))


def test_a_session_cannot_be_recorded_twice() -> None:
    track = opened()
    record(track)
    breach("session_id", lambda: record(track))


def test_a_session_of_an_unknown_kind_or_area_is_refused() -> None:
    breach("kind", lambda: record(opened(), kind="video-game"))
    breach("area", lambda: record(opened(), area="leisure"))


# --- transfer between centres ----------------------------------------------------------------------


def requested(to: str = "centre-surya") -> Track:
    track = opened()
    track.request_transfer(by_centre="centre-payoke", to_centre=to, reason="person-relocated", on=TODAY)
    return track


def test_the_owning_centre_requests_a_transfer_to_another_recognised_centre() -> None:
    track = requested()
    assert track.pending_transfer is not None and track.pending_transfer.to_centre is Centre.SURYA
    assert track.owning_centre is Centre.PAYOKE  # nothing moves before the receiving centre accepts


def test_only_the_owning_centre_can_request_a_transfer() -> None:
    breach(
        "centre",
        lambda: opened().request_transfer(
            by_centre="centre-surya", to_centre="centre-pag-asa", reason="safety", on=TODAY
        ),
    )


def test_a_centre_cannot_transfer_a_track_to_itself_or_to_an_unrecognised_centre() -> None:
    track = opened()
    breach(
        "to_centre",
        lambda: track.request_transfer(by_centre="centre-payoke", to_centre="centre-payoke", reason="safety", on=TODAY),
    )
    breach(
        "to_centre",
        lambda: track.request_transfer(by_centre="centre-payoke", to_centre="ngo", reason="safety", on=TODAY),
    )


def test_a_transfer_without_a_known_reason_is_refused() -> None:
    breach(
        "reason",
        lambda: opened().request_transfer(by_centre="centre-payoke", to_centre="centre-surya", reason="?", on=TODAY),
    )


def test_only_one_transfer_can_be_open_at_a_time() -> None:
    track = requested()
    breach(
        "transfer",
        lambda: track.request_transfer(
            by_centre="centre-payoke", to_centre="centre-pag-asa", reason="safety", on=TODAY
        ),
    )


def test_on_acceptance_ownership_moves_and_the_former_centre_reads_only_its_own_history() -> None:
    track = with_goal(requested())  # versions: 1 opened (saved), 2 requested, 3 goal set
    track.accept_transfer(by_centre="centre-surya", caseworker_id="cw-9", on=TODAY)  # version 4
    assert isinstance(last(track), TransferAccepted)
    assert track.owning_centre is Centre.SURYA and track.caseworker_id == "cw-9"
    assert track.former_centres == [FormerOwnership(Centre.PAYOKE, 4)]
    assert track.pending_transfer is None
    assert track.goals["g1"].is_open  # the receiving centre takes over the plan and its open goals
    assert track.may_read(Centre.PAYOKE, 4) and not track.may_read(Centre.PAYOKE, 5)
    assert track.may_read(Centre.SURYA, 1)
    assert not track.may_read(Centre.PAG_ASA, 1)


@pytest.mark.parametrize("centre", ["centre-payoke", "centre-pag-asa"])
def test_only_the_receiving_centre_can_accept_or_decline_a_transfer(centre: str) -> None:
    track = requested("centre-surya")
    breach("centre", lambda: track.accept_transfer(by_centre=centre, caseworker_id="cw-9", on=TODAY))
    breach("centre", lambda: track.decline_transfer(by_centre=centre, reason="no-capacity", on=TODAY))


def test_a_declined_transfer_leaves_ownership_and_allows_a_new_request() -> None:
    track = requested()
    track.decline_transfer(by_centre="centre-surya", reason="no-capacity", on=TODAY)
    assert isinstance(last(track), TransferDeclined)
    assert track.owning_centre is Centre.PAYOKE and track.former_centres == []
    track.request_transfer(by_centre="centre-payoke", to_centre="centre-pag-asa", reason="person-relocated", on=TODAY)


def test_a_decline_without_a_known_reason_is_refused() -> None:
    breach("reason", lambda: requested().decline_transfer(by_centre="centre-surya", reason="busy", on=TODAY))


def test_answering_a_transfer_that_was_never_requested_is_refused() -> None:
    breach("transfer", lambda: opened().accept_transfer(by_centre="centre-surya", caseworker_id="cw-9", on=TODAY))


def test_a_transfer_cannot_be_answered_before_it_was_requested() -> None:
    breach("on", lambda: requested().accept_transfer(by_centre="centre-surya", caseworker_id="cw-9", on=OPENED))


def test_only_the_requesting_centre_can_withdraw_its_transfer_request() -> None:
    track = requested()
    breach("centre", lambda: track.withdraw_transfer(by_centre="centre-surya", on=TODAY))
    track.withdraw_transfer(by_centre="centre-payoke", on=TODAY)
    assert track.pending_transfer is None


# --- closure and reopening -------------------------------------------------------------------------


def test_closure_is_refused_while_the_proceedings_are_not_reported_concluded() -> None:
    track = opened()
    track.note_residence_settled(on=TODAY)
    breach("proceedings_concluded", lambda: track.close(on=TODAY))


def test_closure_is_refused_while_the_residence_procedure_is_not_settled() -> None:
    track = opened()
    track.note_proceedings_concluded(on=TODAY)
    breach("residence_settled", lambda: track.close(on=TODAY))


def test_closure_is_refused_while_a_goal_is_still_open() -> None:
    track = ready_to_close(with_goal(opened()))
    error = breach("goals", lambda: track.close(on=TODAY))
    assert "g1" in error.detail


def test_a_completed_track_closes_into_aftercare() -> None:
    track = with_goal(opened())
    track.progress_goal(goal_id="g1", on=TODAY)
    track.achieve_goal(goal_id="g1", on=TODAY)
    with_goal(track, "g2").drop_goal(goal_id="g2", reason=sealed(), on=TODAY)
    ready_to_close(track).close(on=TODAY)
    event = last(track)
    assert isinstance(event, TrackClosed) and event.reason == "completed"
    assert track.closed and track.phase is Phase.AFTERCARE


@pytest.mark.parametrize("reason", list(EarlyClosureReason))
def test_a_track_can_close_early_with_a_recorded_reason(reason: EarlyClosureReason) -> None:
    track = with_goal(opened())
    track.close(on=TODAY, reason=reason)
    event = last(track)
    assert isinstance(event, TrackClosed) and event.reason is reason
    assert track.phase is Phase.AFTERCARE


def test_an_early_closure_with_an_unknown_reason_is_refused() -> None:
    breach("reason", lambda: opened().close(on=TODAY, reason="bored"))


def test_closure_with_an_open_transfer_request_is_refused() -> None:
    breach("transfer", lambda: requested().close(on=TODAY, reason="lost-contact"))


@pytest.mark.parametrize(
    "command",
    [
        lambda t: t.assign_caseworker(caseworker_id="cw-2", on=TODAY),
        lambda t: t.change_phase(to="guidance", on=TODAY),
        lambda t: with_goal(t, "g9"),
        lambda t: t.progress_goal(goal_id="g1", on=TODAY),
        lambda t: t.review_plan(on=TODAY),
        lambda t: record(t),
        lambda t: t.request_transfer(by_centre="centre-payoke", to_centre="centre-surya", reason="safety", on=TODAY),
        lambda t: t.close(on=TODAY, reason="deceased"),
    ],
)
def test_after_closure_nothing_but_reopening_is_allowed(command: Callable[[Track], object]) -> None:
    track = with_goal(opened())
    track.close(on=TODAY, reason="lost-contact")
    breach("status", lambda: command(track))


def test_a_closed_track_reopens_in_guidance_with_a_reason_and_a_new_review_date() -> None:
    track = opened()
    track.close(on=TODAY, reason="lost-contact")
    track.reopen(reason=sealed("came back"), on=date(2026, 5, 10))
    event = last(track)
    assert isinstance(event, TrackReopened) and event.reason == sealed("came back")
    assert not track.closed and track.phase is Phase.GUIDANCE
    assert track.next_review_due == date(2026, 8, 10)
    record(track, session_id="s-after")  # commands work again


def test_an_open_track_cannot_be_reopened() -> None:
    breach("status", lambda: opened().reopen(reason=sealed(), on=TODAY))


def test_a_track_cannot_be_reopened_before_it_was_closed() -> None:
    track = opened()
    track.close(on=TODAY, reason="lost-contact")
    breach("on", lambda: track.reopen(reason=sealed(), on=date(2026, 2, 1)))


# --- facts from the legal and housing services -----------------------------------------------------


def flags(track: Track) -> list[tuple[str, GoalFlagReason]]:
    return [(e.goal_id, e.because) for e in track.pending() if isinstance(e, GoalFlaggedForReview)]


def planned_in_every_area() -> Track:
    track = opened()
    for area in ("psychosocial", "administrative", "juridical", "housing"):
        with_goal(track, area, area)
    track.mark_saved()
    return track


def test_a_granted_status_flags_open_administrative_and_juridical_goals_without_changing_them() -> None:
    track = planned_in_every_area()
    track.note_status_granted(on=TODAY)
    assert track.legal_status is LegalStatus.GRANTED
    assert flags(track) == [
        ("administrative", GoalFlagReason.STATUS_GRANTED),
        ("juridical", GoalFlagReason.STATUS_GRANTED),
    ]
    assert all(g.status is GoalStatus.PLANNED for g in track.goals.values())


def test_concluded_proceedings_flag_juridical_goals_only() -> None:
    track = planned_in_every_area()
    track.note_proceedings_concluded(on=TODAY)
    assert track.proceedings_concluded
    assert flags(track) == [("juridical", GoalFlagReason.PROCEEDINGS_CONCLUDED)]


def test_secured_housing_flags_housing_goals() -> None:
    track = planned_in_every_area()
    track.note_housing_secured(on=TODAY)
    assert track.housing_secured and flags(track) == [("housing", GoalFlagReason.HOUSING_SECURED)]


def test_an_ended_status_flags_administrative_juridical_and_housing_goals() -> None:
    track = planned_in_every_area()
    track.note_status_granted(on=TODAY)
    track.mark_saved()
    track.note_status_ended(on=TODAY)
    assert track.legal_status is LegalStatus.ENDED
    assert [goal for goal, _ in flags(track)] == ["administrative", "juridical", "housing"]


def test_finished_goals_are_not_flagged() -> None:
    track = with_goal(opened(), "g1", "housing")
    track.drop_goal(goal_id="g1", reason=sealed(), on=TODAY)
    track.note_housing_secured(on=TODAY)
    assert flags(track) == []


def test_a_fact_reported_twice_records_nothing_the_second_time() -> None:
    track = planned_in_every_area()
    track.note_proceedings_concluded(on=TODAY)
    track.note_status_granted(on=TODAY)
    track.mark_saved()
    track.note_proceedings_concluded(on=TODAY)
    track.note_status_granted(on=TODAY)
    assert track.pending() == []


def test_a_plan_review_clears_the_flags() -> None:
    track = planned_in_every_area()
    track.note_proceedings_concluded(on=TODAY)
    assert [g.goal_id for g in track.goals_flagged_for_review] == ["juridical"]
    track.review_plan(on=TODAY)
    assert track.goals_flagged_for_review == []


def test_facts_reported_after_closure_are_kept_without_flagging_the_frozen_plan() -> None:
    track = planned_in_every_area()
    track.close(on=TODAY, reason="lost-contact")
    track.mark_saved()
    track.note_proceedings_concluded(on=TODAY)
    track.note_residence_settled(on=TODAY)
    assert flags(track) == [] and track.proceedings_concluded and track.residence_settled


# --- replay and contracts --------------------------------------------------------------------------


def test_a_completed_closure_survives_a_round_trip_through_the_event_registry() -> None:
    event = TrackClosed(case_id="c", reason="completed", closed_on=TODAY)
    decoded = EVENT_TYPES.decode("TrackClosed", 1, event.model_dump(mode="json"))
    assert decoded == event


def test_a_track_opens_for_the_person_intake_admitted() -> None:
    track = opened()
    assert track.person_id == "person-1"
    breach(
        "person_id",
        lambda: Track("c").open(centre="centre-payoke", person_id=" ", caseworker_id="cw-1", opened_on=OPENED),
    )


@pytest.mark.parametrize("field", ["own_words", "notes", "reason"])
def test_words_sealed_under_another_persons_key_are_refused_as_they_would_survive_this_persons_erasure(
    field: str,
) -> None:
    track = with_goal(opened())
    other = Sealed(person_id="person-2", key_version=1, nonce="bm9uY2U=", ciphertext="x")
    commands: dict[str, Callable[[], object]] = {
        "own_words": lambda: track.set_goal(
            goal_id="g2", area="housing", target_date=TODAY, own_words=other, on=OPENED
        ),
        "notes": lambda: track.record_session(
            session_id="s1",
            held_on=OPENED,
            area="housing",
            kind="phone",
            duration_minutes=5,
            attended=True,
            today=TODAY,
            notes=other,
        ),
        "reason": lambda: track.drop_goal(goal_id="g1", reason=other, on=OPENED),
    }
    breach(field, commands[field])
