"""The live rule runner in tests: started in a thread over the registry, and a watcher of the
alert topic (shared by the lamp and drain live tests)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import paho.mqtt.client as mqtt

from rules.runner import RuleRunner, RunnerConfig
from rules.sources import SqlRegistry, network_of
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.registry.store import load_device_index, load_lamps
from streetwatch.settings import INGEST_USER, RULES_USER


class AlertWatcher:
    """Subscribes to streetwatch/alerts/# (as the ingest account, clean session)."""

    def __init__(self, mosquitto) -> None:
        self.events: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"w-{uuid.uuid4().hex[:6]}", clean_session=True)
        self.client.username_pw_set(INGEST_USER, mosquitto.password(INGEST_USER))
        ready = threading.Event()
        self.client.on_subscribe = lambda *_: ready.set()
        self.client.on_message = lambda _c, _u, m: self.events.append(
            {**json.loads(m.payload), "_topic": m.topic, "_at": time.time()})
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.client.subscribe("streetwatch/alerts/#", qos=1)
        assert ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def start_runner(settings, sql, follow: bool = False,
                 ) -> tuple[RuleRunner, threading.Event, threading.Thread]:
    """The live runner in a thread (1 s ticks, 60 s warm-up), rebuilt from the registry; with
    `follow`, as `streetwatch rules` runs it: rebuilt again whenever the registry changes."""
    runner = RuleRunner(settings, RunnerConfig(settings.mqtt_endpoint(), RULES_USER, 1000, 60_000),
                        AlertStore(sql), InfluxClient.from_settings(settings),
                        lambda: load_device_index(sql),
                        registry=SqlRegistry(sql) if follow else None)
    if follow:
        runner.rebuild_from_registry()
    else:
        runner.rebuild(load_lamps(sql), network_of(sql))
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    return runner, stop, thread
