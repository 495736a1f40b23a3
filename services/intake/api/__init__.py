"""The intake HTTP API (OpenAPI at ``/docs``): referrals, then the centre's cases and persons.

Split by concern: ``referrals`` (submission to admission), ``people`` (cases, the audited person read,
erasure, the read audit), ``cases`` (an admitted case's minority and its intake history), ``leads`` (tips from
the public for the centre of their region).
Access rules: ``access.ACCESS``.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.api import cases, leads, people, referrals

router = APIRouter()
router.include_router(referrals.router)
router.include_router(people.router)
router.include_router(cases.router)
router.include_router(leads.router)
