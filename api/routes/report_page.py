"""The monthly report page, `/reports/monthly` (to come): HTML with server-drawn SVG charts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["report page"])
