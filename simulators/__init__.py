"""Simulated field devices: a seeded fleet of lamps, drains and rain gauges publishing over MQTT.

`fleet` builds the devices, `readings` says what each reports and when, `publisher` is the MQTT
edge (one client per gateway) and `cli` is the `streetwatch simulate` command.
"""
