"""`streetwatch rules`: the live rule runner around the pure core (DESIGN s.5).

On start it rebuilds: the alerts open in SQL are adopted, then the core runs over the stored
readings of the last `warm_up` (a day by default, so the last night is known), recording what
changed while it was down. Then it follows its own persistent MQTT session (QoS 1, manual acks:
a message is acked once what it caused is in SQL), ticks at whole multiples of `every`, writes
`lighting_rate` and `alert_event` to InfluxDB and publishes every alert event on
`streetwatch/alerts/{zone}/{severity}`, its own and (from the SQL outbox) those people made
through the API or the CLI. Time inside the core still comes from the data; the wall
clock only says when to tick and how far time may run ahead (`ADVANCE_LAG_MS` behind it, so
readings a little late on the wire are still judged in order).

For the Grafana boards (docs/dashboards.md), which speak InfluxQL only, it also writes what they
cannot read from SQL: `lamp_site` (each placed lamp's lat/lon) and `drain_site` (each drain's
overflow level) at every rebuild, and `rules_tick` (each live tick's lag behind the wall clock).
"""

from __future__ import annotations

import gc
import json
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import paho.mqtt.client as mqtt
from sqlalchemy.exc import SQLAlchemyError

from rules.config import LIVE_WARM_UP_S
from rules.drains import DrainNetwork
from rules.engine import NO_DRAINS, RuleEngine
from rules.fleet import Fleet, LampSite
from rules.lifecycle import OpenAlert
from rules.lighting import LightingRate
from rules.replay import history_start_ms, remember, replay_items
from rules.sinks import SqlSink
from rules.sources import SqlRegistry, fleet_of, lamp_site, stored_history, stored_observations
from rules.webhooks import TopicCourier
from streetwatch.alerts.model import PEOPLE_ALERT_KINDS, AlertEvent, AlertKind, Notice
from streetwatch.alerts.records import AlertFilter, Delivery, StoredAlert
from streetwatch.alerts.store import AlertStore
from streetwatch.influx import InfluxClient
from streetwatch.lineproto import (
    alert_event_line,
    drain_site_line,
    lamp_site_line,
    lighting_rate_line,
    rules_tick_line,
)
from streetwatch.logs import log_event
from streetwatch.mqtt_session import service_client
from streetwatch.schemas import DrainReading, LampReading, RainReading
from streetwatch.settings import MqttEndpoint, Settings
from streetwatch.town import DrainSite
from streetwatch.validation import Limits, process_message

log = logging.getLogger("streetwatch.rules")
ADVANCE_LAG_MS = 500
SUBSCRIPTION = "streetwatch/#"
MAX_PENDING_LINES = 200_000
STUCK_AFTER_S = 60.0
ADOPT_PAGE = 500  # people's open alerts read per query, once a tick
OUTBOX_EVERY_MS = 500  # how often the loop looks for events people made, to publish them
# A rebuild in the process (a structural registry change) waits REBUILD_DELAY_MS after the
# change is seen, keeping the messages it judges meanwhile, and judges them again on the new
# core: the rebuild replays InfluxDB, where the ingester may not have the newest of them yet (it
# flushes every ingest_flush_interval_s, 0.2 s, and retries a failed write within seconds), while
# what came before the wait is stored by then. A reading the replay had changes nothing twice.
# Messages are kept only during that wait: kept all the time, they cost the live loop's alert
# latency a third at p99 (bench/rules.py item 5).
REBUILD_DELAY_MS = 5_000


@dataclass(frozen=True)
class RunnerConfig:
    """What the runner needs besides the core: where to connect and how often to tick."""

    endpoint: MqttEndpoint
    client_id: str
    every_ms: int = 60_000
    warm_up_ms: int = LIVE_WARM_UP_S * 1000


class RuleRunner:
    """One live rule engine: rebuild, then MQTT in, SQL + InfluxDB + MQTT out."""

    def __init__(self, settings: Settings, config: RunnerConfig, store: AlertStore,
                 influx: InfluxClient, devices: Callable[[], dict],
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                 registry: SqlRegistry | None = None) -> None:
        self.settings, self.config, self.store, self.influx = settings, config, store, influx
        self.devices = devices
        # Followed when given (`follow_registry`): a device written through the API or the CLI
        # reaches the rules within rules_registry_check_s, without a restart.
        self.registry = registry
        self.registry_seen: int | None = None
        self.next_registry_check_ms = 0
        # While a rebuild waits (REBUILD_DELAY_MS): when it is due, and the messages judged
        # since (topic, payload, retained: plain values, which the collector does not track).
        self.rebuild_due_ms: int | None = None
        self.recent: list[tuple[str, bytes, bool]] = []
        self.rebuilds = 0
        self.network: DrainNetwork = NO_DRAINS  # the drains and gauges of the last rebuild
        self.wall_ms = wall_ms
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.pending_lines: list[str] = []
        self.client: mqtt.Client | None = None
        self.core: RuleEngine | None = None
        self.next_tick = 0
        self.subscribed = threading.Event()
        self.failed_messages = 0
        self.messages = 0
        self.lamp_readings = 0
        self.drain_readings = 0
        self.rain_readings = 0
        self.ticks = 0
        self.alert_events: Counter[tuple[str, str]] = Counter()
        self.connected = False
        self.next_tick_done_s = 0.0  # the last tick's instant, epoch seconds
        self.last_step_wall_ms = wall_ms()
        self._unpublished: list[AlertEvent | Notice] = []  # events of a rebuild run before connect()
        self.outbox = TopicCourier(store, self._publish_line, self._relayed, wall_ms)
        self.next_outbox_ms = 0
        # people's alerts the core holds: id -> (subject, kind)
        self.adopted_people: dict[int, tuple[str, AlertKind]] = {}

    # Start ---------------------------------------------------------------------------------------
    def rebuild(self, fleet_records: Iterable,  # noqa: ANN001 - LampRecord list
                network: DrainNetwork = NO_DRAINS) -> None:
        """Adopt SQL's open alerts, learn the drains' baselines from the stored readings before
        the warm-up window, then run the core over that window."""
        now = self.wall_ms() - ADVANCE_LAG_MS
        every = self.config.every_ms
        start = (now - self.config.warm_up_ms) // every * every
        self.core = RuleEngine.from_settings(fleet_of(fleet_records), self.settings,
                                             SqlSink(self.store), start, network)
        self.pending_lines.extend(site_lines(self.core.fleet, network.drains, now))
        if len(self.core.drains):
            remember(self.core, stored_history(self.influx, history_start_ms(self.core, start),
                                               start))
            gc.collect()
            gc.freeze()  # the learned history lives long: the collector need not walk it
        # Alerts people raised (citizen reports) are adopted too: the core never clears a kind no
        # detector of its sees, but their deadlines make them overdue and escalate like any.
        open_alerts = self.store.open_alerts()
        for stored in open_alerts:
            self._adopt(stored)
        count = 0
        for item in replay_items(self.core, stored_observations(self.influx, start, now), start,
                                 now, every):
            self._emit(item)
            count += 1
        self.next_tick = -(-now // every) * every
        log_event(log, "rules.rebuilt", adopted=len(open_alerts), outputs=count,
                  lamps=len(self.core.fleet), drains=len(self.core.drains), from_ms=start,
                  to_ms=now)

    def rebuild_from_registry(self) -> None:
        """Rebuild from the registry as it stands (what a restart would do, in the process):
        its revision first, so a write made meanwhile is seen at the next check. The messages
        kept while the rebuild waited are judged again by the new core (REBUILD_DELAY_MS)."""
        assert self.registry is not None
        revision = self.registry.revision()
        self._reload_device_index()
        if self.core is not None:  # the old core and what it learned go; gc.freeze kept them
            self.core = None
            gc.unfreeze()
            gc.collect()
        self.adopted_people = {}
        self.network = self.registry.network()
        self.rebuild(self.registry.lamps(), self.network)
        self.registry_seen = revision
        self.rebuilds += 1
        kept, self.recent, self.rebuild_due_ms = self.recent, [], None
        for topic, payload, retained in kept:
            self._judge_safely(topic, payload, retained)

    def follow_registry(self, now_ms: int) -> None:
        """Every rules_registry_check_s: when the registry's revision moved, take the change.
        Lamps retired, back in service or given planned works are judged in place at `now_ms`
        (a rebuild costs what a start costs: the warm-up's readings again); anything else (a
        device added or removed, a lamp moved to another road, zone, cabinet or gateway, any
        drain or gauge change) rebuilds the runner, REBUILD_DELAY_MS after it is seen."""
        wall = self.wall_ms()
        if self.rebuild_due_ms is not None:
            if wall >= self.rebuild_due_ms:
                self.rebuild_from_registry()
            return
        if self.registry is None or wall < self.next_registry_check_ms:
            return
        self.next_registry_check_ms = wall + self.settings.rules_registry_check_s * 1000
        revision = self.registry.revision()
        if revision == self.registry_seen:
            return
        changes = self._service_changes()
        log_event(log, "rules.registry_changed", revision=revision, seen=self.registry_seen,
                  how="rebuild" if changes is None else "in place",
                  lamps=None if changes is None else len(changes))
        if changes is None:
            self.rebuild_due_ms = wall + REBUILD_DELAY_MS
            return
        assert self.core is not None
        self._reload_device_index()
        for site in changes:
            self.core.lamp_service(site.id, site.in_service, site.works_from_ms,
                                   site.works_until_ms, now_ms)
        self.core.settle()
        self.registry_seen = revision

    def _reload_device_index(self) -> None:
        """The registry's device index as it stands, for judging messages (who may report)."""
        assert self.registry is not None
        index = self.registry.device_index()
        self.devices = lambda: index

    def _service_changes(self) -> list[LampSite] | None:
        """The registry's lamps whose service state differs from the core's, or None when
        anything else differs (then only a rebuild will do)."""
        assert self.core is not None and self.registry is not None
        fleet, changed, seen = self.core.fleet, [], 0
        for site in map(lamp_site, self.registry.lamps()):
            i = fleet.index.get(site.id)
            if i is None:
                return None
            seen += 1
            held = fleet.site(i)
            if held != site:
                if replace(held, in_service=site.in_service, works_from_ms=site.works_from_ms,
                           works_until_ms=site.works_until_ms) != site:
                    return None
                changed.append(site)
        if seen != len(fleet) or self.registry.network() != self.network:
            return None
        return changed

    def _adopt(self, stored: StoredAlert) -> None:
        assert self.core is not None
        self.core.adopt(OpenAlert(stored.id, stored.condition, stored.severity,
                                  stored.deadline_ms, stored.overdue))
        if stored.condition.kind in PEOPLE_ALERT_KINDS:
            self.adopted_people[stored.id] = (stored.condition.subject, stored.condition.kind)

    def adopt_people_alerts(self) -> int:
        """Adopt the open alerts people raised (citizen reports, patrol mismatches, through the
        API) that this runner does not hold yet, so their deadlines make them overdue and
        escalate while it runs, not only after its next restart. Once a tick: all of them are
        read (few are open at a time), not "ids above the last seen", which a transaction that
        commits late would slip past. Returns how many were new."""
        still_open: set[int] = set()
        new = 0
        for kind in PEOPLE_ALERT_KINDS:
            after = None
            while rows := self.store.page(AlertFilter(state="open", kind=kind), after,
                                          ADOPT_PAGE, newest_first=False):
                for stored in rows:
                    still_open.add(stored.id)
                    if stored.id not in self.adopted_people:
                        self._adopt(stored)
                        new += 1
                after = rows[-1].id
        for gone in self.adopted_people.keys() - still_open:  # resolved through the API
            self.core.release(gone, *self.adopted_people.pop(gone))  # type: ignore[union-attr]
        return new

    # Loop ----------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and subscribe (messages wait in the inbox, unacked, until `run`); publish what
        a rebuild decided before the connection existed."""
        if self.client is None:
            self.client = self._connect()
        for event in self._unpublished:
            self._publish(event)
        self._unpublished = []

    def run(self, stop: threading.Event) -> None:
        self.connect()
        client = self.client
        assert client is not None
        try:
            while not stop.is_set():
                self._step()
        finally:
            client.loop_stop()
            client.disconnect()

    def _step(self) -> None:
        """Take what arrived, let time pass, tick when due, flush outputs."""
        timeout = max(0.0, min(0.2, (self.next_tick + ADVANCE_LAG_MS - self.wall_ms()) / 1000))
        try:
            first = self.inbox.get(timeout=timeout)
        except queue.Empty:
            first = None
        if first is not None:
            self._handle(first)
            while not self.inbox.empty():
                self._handle(self.inbox.get_nowait())
        now = self.wall_ms() - ADVANCE_LAG_MS
        assert self.core is not None
        self._tick_before(now + 1)
        self.core.advance(now)
        self.follow_registry(now)
        self._emit_events()
        self._relay_outbox()
        self._flush_lines()
        self.last_step_wall_ms = self.wall_ms()

    def health(self) -> tuple[bool, dict]:
        """Unhealthy when the loop has not completed a step for a while (stuck or dead)."""
        quiet_s = (self.wall_ms() - self.last_step_wall_ms) / 1000
        limit_s = max(STUCK_AFTER_S, 3 * self.config.every_ms / 1000)
        return quiet_s <= limit_s, {"since_last_step_s": round(quiet_s, 1),
                                    "connected": self.connected, "limit_s": limit_s}

    def _tick_before(self, ts_ms: int) -> None:
        """Ticks strictly before `ts_ms` come first, as in replay (a reading stamped exactly
        at a tick counts for that tick)."""
        assert self.core is not None
        if self.next_tick < ts_ms:
            self.adopt_people_alerts()
        while self.next_tick < ts_ms:
            for sample in self.core.tick(self.next_tick):
                self._emit(sample)
            lag_s = (self.wall_ms() - self.next_tick) / 1000
            self.pending_lines.append(rules_tick_line(self.config.client_id, self.next_tick,
                                                      lag_s))
            self.ticks += 1
            self.next_tick_done_s = self.next_tick / 1000
            self.next_tick += self.config.every_ms

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        """One message into the core; acked once its consequences are stored. A message the core
        fails on (a bug) is logged, counted and acked: redelivering it after a restart would fail
        again and stop every alert in town. Storage errors are not swallowed: they end the
        process, and the restart's rebuild loses nothing."""
        assert self.client is not None
        self.messages += 1
        topic, payload, retained = message.topic, message.payload, bool(message.retain)
        if self.rebuild_due_ms is not None:
            self.recent.append((topic, payload, retained))
        self._judge_safely(topic, payload, retained)
        self.client.ack(message.mid, message.qos)

    def _judge_safely(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            self._judge(topic, payload, retained)
        except SQLAlchemyError:
            raise
        except Exception as exc:  # noqa: BLE001 - see _handle's docstring
            self.failed_messages += 1
            log_event(log, "rules.message_failed", logging.ERROR, topic=topic[:200],
                      error=type(exc).__name__, detail=str(exc)[:200])

    def _judge(self, topic: str, payload: bytes, retained: bool) -> None:
        assert self.core is not None
        outcome = process_message(topic, payload, self.wall_ms(), self.devices(), Limits(),
                                  retained=retained, keep_readings=True, encode=False)
        for accepted in outcome.readings:
            reading = accepted.reading
            if isinstance(reading, LampReading):
                self.lamp_readings += 1
                self._tick_before(reading.ts)
                self.core.lamp_reading(accepted.device_id, reading.ts, reading.on, reading.fault)
            elif isinstance(reading, DrainReading):
                self.drain_readings += 1
                self._tick_before(reading.ts)
                self.core.drain_reading(accepted.device_id, reading.ts, reading.level_cm,
                                        reading.battery_v, reading.cover_open)
            elif isinstance(reading, RainReading):
                self.rain_readings += 1
                self._tick_before(reading.ts)
                self.core.rain_reading(accepted.device_id, reading.ts, reading.rain_mm)
        if outcome.status is not None:
            self.core.gateway_status(outcome.status.gateway, outcome.status.online,
                                     max(self.core.now, self.wall_ms() - ADVANCE_LAG_MS))
        self._emit_events()

    # Outputs -------------------------------------------------------------------------------------
    def _emit_events(self) -> None:
        assert self.core is not None
        for event in self.core.take_events():
            self._emit(event)

    def _emit(self, item: AlertEvent | Notice | LightingRate) -> None:
        if isinstance(item, LightingRate):
            self.pending_lines.append(lighting_rate_line(item.zone, item.ts_ms, item.lit,
                                                         item.expected, item.stale, item.target))
            return
        if isinstance(item, Notice):
            self._emit_notice(item)
            return
        self.alert_events[(item.event, item.kind)] += 1
        self.pending_lines.append(alert_event_line(
            item.event, item.ts_ms, item.id, item.kind, item.severity, item.zone, item.subject,
            item.devices, item.message))
        if self.client is None:
            self._unpublished.append(item)
        else:
            self._publish(item)
        log_event(log, "rules.alert", change=item.event, kind=item.kind, subject=item.subject,
                  zone=item.zone, severity=item.severity, alert_id=item.id)

    def _emit_notice(self, notice: Notice) -> None:
        """A notice is stored as an `alert_event` of state `notice` (blue, no alert id) and
        published on the zone's blue topic."""
        self.alert_events[("notice", notice.kind)] += 1
        self.pending_lines.append(alert_event_line(
            "notice", notice.ts_ms, None, notice.kind, "blue", notice.zone,
            f"zone:{notice.zone}", notice.drains, notice.message))
        if self.client is None:
            self._unpublished.append(notice)
        else:
            self._publish(notice)
        log_event(log, "rules.notice", kind=notice.kind, zone=notice.zone,
                  drains=len(notice.drains))

    def _publish(self, event: AlertEvent | Notice) -> None:
        severity = "blue" if isinstance(event, Notice) else event.severity
        self._publish_line(f"streetwatch/alerts/{event.zone}/{severity}", event.line())

    def _publish_line(self, topic: str, line: str) -> mqtt.MQTTMessageInfo:
        assert self.client is not None
        return self.client.publish(topic, line, qos=1)

    def _relay_outbox(self) -> None:
        """Every OUTBOX_EVERY_MS: publish the events people made (API, CLI) from the outbox."""
        now = self.wall_ms()
        if now < self.next_outbox_ms:
            return
        self.next_outbox_ms = now + OUTBOX_EVERY_MS
        self.outbox.deliver_due(self.connected)

    def _relayed(self, delivery: Delivery) -> None:
        """An event people made is on the alert topic: store its `alert_event` point as the
        runner does for its own, at the event's time."""
        event = json.loads(delivery.payload)
        self.alert_events[(event["event"], event["kind"])] += 1
        self.pending_lines.append(alert_event_line(
            event["event"], delivery.created_at_ms, event["id"], event["kind"],
            event["severity"], event["zone"], event["subject"], tuple(event["devices"]),
            event["message"]))
        log_event(log, "rules.alert_relayed", change=event["event"], kind=event["kind"],
                  zone=event["zone"], severity=event["severity"], alert_id=event["id"])

    def _flush_lines(self) -> None:
        """Derived series to InfluxDB; kept (bounded) and retried while it is down."""
        if not self.pending_lines:
            return
        try:
            self.influx.write_lines(self.pending_lines)
            self.pending_lines = []
        except Exception as exc:  # noqa: BLE001 - any InfluxDB failure: keep, retry next step
            dropped = max(0, len(self.pending_lines) - MAX_PENDING_LINES)
            self.pending_lines = self.pending_lines[dropped:]
            log_event(log, "rules.influx_write_failed", logging.WARNING, error=str(exc)[:200],
                      pending=len(self.pending_lines), dropped=dropped)

    # MQTT ----------------------------------------------------------------------------------------
    def _connect(self) -> mqtt.Client:
        ep = self.config.endpoint
        client = service_client(ep, self.config.client_id)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = lambda _c, _u, message: self.inbox.put(message)
        client.connect(ep.host, ep.port, keepalive=30)
        client.loop_start()
        return client

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log_event(log, "rules.connect_failed", logging.ERROR, reason=str(reason_code))
            return
        self.connected = True
        client.subscribe(SUBSCRIPTION, qos=1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected = False
        log_event(log, "rules.disconnected", logging.WARNING, reason=str(reason_code))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # noqa: ANN001
        self.subscribed.set()
        log_event(log, "rules.subscribed", broker=self.config.endpoint.display(),
                  client_id=self.config.client_id, topic=SUBSCRIPTION)


def site_lines(fleet: Fleet, drains: Iterable[DrainSite], ts_ms: int) -> list[str]:
    """`lamp_site` points (lamps with a position) and `drain_site` points (drains with anything
    known of their geometry or place), stamped `ts_ms`."""
    lines = [lamp_site_line(site, ts_ms) for site in fleet.sites]
    lines += [drain_site_line(drain, ts_ms) for drain in drains]
    return [line for line in lines if line is not None]


__all__ = ["RuleRunner", "RunnerConfig", "site_lines"]
