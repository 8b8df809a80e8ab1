"""`/api/v1` scores routes (to come)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["scores"])
