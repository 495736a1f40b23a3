"""The tracks HTTP API: the commands on a track (``tracks``) and the queries (``queries``), one router for app.py.

Access rules are the table in :mod:`services.tracks.access` (tested as a matrix).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.tracks.api import queries, tracks

router = APIRouter()
router.include_router(tracks.router)
router.include_router(queries.router)
