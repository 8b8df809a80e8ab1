"""`/api/v1` alerts routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["alerts"])
