"""HTTP API (to come): FastAPI app under /api/v1 for devices, readings, lighting rate, alerts, reports.

Keys with roles (viewer, crew, manager, admin); /healthz, /readyz, /metrics (DESIGN s.6).
"""
