"""The legal service's HTTP API: residence commands, proceedings commands, queries (one router for app.py)."""

from fastapi import APIRouter

from services.legal.api import proceedings, queries, residence, stay

router = APIRouter()
router.include_router(residence.router)
router.include_router(proceedings.router)
router.include_router(queries.router)
router.include_router(stay.router)

__all__ = ["router"]
