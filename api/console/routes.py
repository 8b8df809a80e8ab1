"""The crew console's one router (api/app.py includes it): the alert pages, the patrol pages and the monthly report page.
(`/api/v1/patrols`, api/console/patrol_api.py, is included with the other API routers.)"""

from __future__ import annotations

from fastapi import APIRouter

from api.console import alert_pages, patrol_pages, report_pages

router = APIRouter()
router.include_router(alert_pages.router)
router.include_router(patrol_pages.router)
router.include_router(report_pages.router)
