"""The housing HTTP API: one router made of the shelter and placement commands and the queries.

Access rules are the table in :mod:`services.housing.access` (tested as a matrix).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.housing.api import placements, queries, shelters

router = APIRouter()
router.include_router(shelters.router)
router.include_router(placements.router)
router.include_router(queries.router)
