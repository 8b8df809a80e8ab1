"""Ingester: MQTT -> validate -> InfluxDB with zero loss (DESIGN s.3, s.4).

`validation` is the pure core (message -> lines or rejects); `batching` gathers messages into
batches; `writer` writes a batch durably and only then acknowledges its messages; `dead_letter` keeps
every rejected payload; `runner` is the paho-mqtt edge that ties them together.
"""
