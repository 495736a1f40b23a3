"""Intake service: referrals, screening, the centre's decision, admission (opening the case), erasure."""

from services.intake.domain import Person, Referral, ReferralStatus

__all__ = ["Person", "Referral", "ReferralStatus"]
