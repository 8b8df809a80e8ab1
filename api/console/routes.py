"""The crew console's one router (api/app.py includes it): the alert pages and the patrol pages."""

from __future__ import annotations

from fastapi import APIRouter

from api.console import alert_pages

router = APIRouter()
router.include_router(alert_pages.router)
