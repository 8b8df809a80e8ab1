"""The crew console: a phone-width web page at `/console` where crews work their alerts and
night patrols record what they see (docs/console.md).

Server-rendered Jinja2 pages (api/templates/console/), a few lines of plain JavaScript that poll
the alert list; signed in with a crew key exchanged for an HttpOnly session cookie. Pure parts:
`catalogue` (every label in English and Chinese), `alert_cards` (what a crew sees of an alert),
`patrol_route` (the lamps to check, along their roads), `mismatch` (patrol versus telemetry).
"""
