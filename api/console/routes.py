"""The crew console's one router (api/app.py includes it): the alert pages, the patrol pages,
and `/api/v1/patrols` (a month's patrols for managers, JSON or CSV)."""

from __future__ import annotations

from fastapi import APIRouter

from api.console import alert_pages, patrol_api, patrol_pages

router = APIRouter()
router.include_router(alert_pages.router)
router.include_router(patrol_pages.router)
router.include_router(patrol_api.router)  # /api/v1/patrols
