"""`/api/v1` devices routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["devices"])
