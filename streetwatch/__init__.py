"""Streetwatch kernel: settings, wire schemas, topics, line protocol, InfluxDB and SQL adapters, CLI.

Every other component (ingest, rules, api, dashboards, simulators) imports from here, never sideways.
"""

__version__ = "0.1.0"
