"""Rule engine (to come): pure lighting-rate, lamp-fault, drain-blockage and alert-lifecycle logic.

Rules are functions `evaluate(state, reading, now) -> (state, events)` over plain data and import no
I/O library; a thin runner feeds them readings from InfluxDB and stores alerts in SQL (DESIGN s.5).
"""
