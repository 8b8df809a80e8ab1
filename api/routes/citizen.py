"""`/api/v1` reports routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["reports"])
