"""The housing HTTP API: one router made of the shelter, placement and view routers.

Access rules are the table in :mod:`services.housing.access` (tested as a matrix).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.housing import api_placements, api_shelters, api_views

router = APIRouter()
router.include_router(api_shelters.router)
router.include_router(api_placements.router)
router.include_router(api_views.router)
