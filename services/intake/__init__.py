"""Intake service: referrals, screening, the centre's decision, admission (opening the case), erasure, and the
leads that tips from the public become."""

from services.intake.domain import Lead, LeadStatus, Person, Referral, ReferralStatus

__all__ = ["Lead", "LeadStatus", "Person", "Referral", "ReferralStatus"]
