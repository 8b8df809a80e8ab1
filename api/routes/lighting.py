"""`/api/v1` lighting-rate routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["lighting-rate"])
