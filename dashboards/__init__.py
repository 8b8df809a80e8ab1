"""Grafana dashboards as code: five boards as plain JSON, provisioning files, push via grafana-client.

Why plain JSON and not `grafana-foundation-sdk`: the SDK's Python package is generated for
Grafana 10.1 (it writes schemaVersion 36), is marked alpha, and has no InfluxDB query type, so every
one of our InfluxQL targets would be a hand-written `Dataquery` subclass returning the same dict we
write here anyway; transformations (joins, calculated fields), which carry most of the risk, are
untyped `{id, options}` dicts there too. A stat panel built both ways came out the same size, plus
a ten-line query class for the SDK. So the boards are small functions returning dicts
(`dashboards.panels`), checked by tests for what Grafana needs (unique panel ids, datasource refs,
uids, schemaVersion) and with every query run against a real InfluxDB; no extra dependency.

Modules: `panels` (JSON building blocks), `queries` (the InfluxQL), `boards` (the five boards),
`provisioning` (export files), `push` (grafana-client), `cli`.
"""
