"""Alerts shared by the rule engine (which raises them) and the API (where crews work them)."""
