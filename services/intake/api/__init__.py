"""The intake HTTP API (OpenAPI at ``/docs``): referrals, then the centre's cases and persons.

Split by concern: ``referrals_api`` (submission to admission), ``people_api`` (cases, the audited person read,
erasure, the read audit), ``cases_api`` (an admitted case's minority and its intake history).
Access rules: ``access.ACCESS``.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.intake import cases_api, people_api, referrals_api

router = APIRouter()
router.include_router(referrals_api.router)
router.include_router(people_api.router)
router.include_router(cases_api.router)
