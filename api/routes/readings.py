"""`/api/v1` readings routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["readings"])
