"""Lamp rules: per-lamp state from readings and timers, roll-ups first, conditions out (docs/alerts.md).

A discrete-event core. Readings and timer wakes are processed in time order with `now` taken from
the data (a reading's ts, a wake's exact time), never from a wall clock, so the live runner and
replay compute the same conditions at the same instants. Each lamp, cabinet and gateway holds at
most one pending wake that matters; a wake that finds nothing due just schedules the next one.

Roll-ups are decided first at each instant: a gateway that is down (offline status, or no reading
from any of its devices in `stale_after`) suppresses `lamp_silent`; a cabinet with at least
`cabinet_down_fraction` of its lamps dark or stale is `cabinet_failure` (same hold as `lamp_out`,
and at equal instants cabinets are evaluated before lamps), which suppresses `lamp_out`,
`lamp_silent` and `blind_spot` for its lamps; two or more neighbouring lamps out on one road are one
`blind_spot` that absorbs their `lamp_out` alerts.
"""

from __future__ import annotations

from array import array
from collections import Counter, deque

from rules.config import RuleConfig, Schedule
from rules.fleet import Fleet
from rules.lighting import DARK, LIT, OUT_OF_SERVICE, STALE, ZoneCounts
from rules.phases import PhaseClock
from rules.timers import NEVER, Timers
from streetwatch.alerts.model import (
    AlertKind,
    Cleared,
    Condition,
    Place,
    Raised,
    Transition,
    cabinet_subject,
    gateway_subject,
    lamp_subject,
    rfc3339_ms,
    road_subject,
)

DARK_FAULTS = frozenset({"lamp_failure", "driver_failure", "power_supply"})
LIT_FAULTS = frozenset({"low_power_factor", "tilt"})  # lamp_fault: a lit lamp that needs a visit
# Timer keys: lamps first, then cabinets, gateways, zones (one key space, 8 bytes a key in the
# timers' array). The order of wakes at one instant does not matter: every
# judgement waits for the end of the instant (settle), cabinets before lamps.
_GATEWAY, _CABINET, _LAMP, _ZONE = 0, 1, 2, 3
# Per-lamp bits of the lamp-level alerts that are active (a lamp with none, not out, not cycling
# and without planned works is "quiet": a reading that repeats its state only moves its clock).
_FRESH = (LIT, DARK)
_BIT: dict[str, int] = {"lamp_out": 1, "day_burner": 2, "cycling": 4, "lamp_fault": 8,
                        "lamp_silent": 16}


class LampRules:
    """The state of every lamp, cabinet and gateway; emits condition transitions in time order."""

    fast_paths = True  # the quiet-lamp shortcuts; a property test proves them equivalent

    def __init__(self, fleet: Fleet, config: RuleConfig, schedule: Schedule, start_ms: int) -> None:
        self.fleet, self.config, self.phases = fleet, config, PhaseClock(schedule)
        self.now = start_ms
        self.start_ms = start_ms
        self.counts = ZoneCounts(dict(Counter(fleet.zone_of)))
        self.transitions: list[Transition] = []
        self._active: dict[tuple[str, AlertKind], Condition] = {}
        n = len(fleet)
        self.last_ts = array("q", [-1]) * n
        self.flags = bytearray(n)  # _BIT of active lamp-level alerts
        self.has_works = bytearray(i in fleet.works for i in range(n))
        self.litish = bytearray(n)
        self.relay_on = bytearray(n)
        self.fault: list[str | None] = [None] * n
        self.since = array("q", [start_ms]) * n
        self.category = bytearray(n)
        self.out = bytearray(n)  # sticky "this lamp is out" (lamp_out or part of a blind spot)
        self._changes: dict[int, deque[int]] = {}
        self._cabinets = {c: _CabinetState(members, {fleet.gateway_of[j] for j in members})
                          for c, members in fleet.by_cabinet.items()}
        self._cabinet_names = list(self._cabinets)
        self._cabinet_keys = {name: k for k, name in enumerate(self._cabinet_names)}
        self._gateways = {g: _GatewayState(start_ms) for g in fleet.by_gateway}
        self._gateway_names = list(self._gateways)
        self._gateway_keys = {name: k for k, name in enumerate(self._gateway_names)}
        self._runs: dict[int, str] = {}  # lamp -> blind-spot subject it belongs to
        sizes = (n, len(self._cabinet_names), len(self._gateway_names), len(fleet.zones))
        self._key_base = {_LAMP: 0, _CABINET: sizes[0], _GATEWAY: sizes[0] + sizes[1],
                          _ZONE: sizes[0] + sizes[1] + sizes[2]}
        self.timers = Timers(sum(sizes))
        self._zone_members = fleet.by_zone
        self._zone_names = list(fleet.zones)
        self._unsettled: set[int] = set()  # lamps touched at `_unsettled_at`, judged at its end
        self._unsettled_cabinets: set[int] = set()
        self._unsettled_at = start_ms
        for i in range(n):
            self._evaluate_lamp(i, start_ms)
        for gateway in self._gateway_names:
            self._evaluate_gateway(gateway, start_ms)
        for key in range(len(self._cabinet_names)):  # cabinets are judged once lamps had a chance
            self._schedule(_CABINET, key, start_ms + config.stale_after_ms + 1)
        for key in range(len(self._zone_names)):
            self._schedule_zone(key, start_ms)

    # Inputs --------------------------------------------------------------------------------------
    def advance(self, now_ms: int) -> None:
        """Process every wake due at or before `now_ms`, in time order (roll-ups first)."""
        timers = self.timers
        while (due := timers.pop_due(now_ms)) is not None:
            at, key = due
            if at > self._unsettled_at and self._has_unsettled():
                timers.schedule(key, at)  # back: settling may want something earlier
                self.settle()
                continue
            self.now = max(self.now, at)
            self._wake_key(key, at)
        if self._has_unsettled() and now_ms > self._unsettled_at:
            self.settle()
        self.now = max(self.now, now_ms)

    def service_changed(self, i: int, in_service: bool, works: tuple[int | None, int | None],
                        now_ms: int) -> None:
        """Lamp `i` retired, back in service, or given other planned works at `now_ms` (the
        registry changed under a live runner): what was due before is judged with the old
        state, then the lamp is judged as its window edges are (a wake at `now_ms`)."""
        self.advance(now_ms)
        self.fleet.set_service(i, in_service, *works)
        self.has_works[i] = i in self.fleet.works
        self._evaluate_lamp(i, self.now)

    def wants_advance(self, ts_ms: int) -> bool:
        """Whether `advance(ts_ms)` has anything to do (a wake due, or an earlier instant to
        settle): the cheap check before it, for readings of other devices (drains)."""
        return self.timers.any_due(ts_ms) or (
            ts_ms > self._unsettled_at and self._has_unsettled())

    def settle(self) -> None:
        """End of an instant: judge the lamps touched in it, now that every roll-up (cabinet,
        gateway) and every neighbour has been updated for that instant."""
        at = self._unsettled_at
        cabinets, self._unsettled_cabinets = sorted(self._unsettled_cabinets), set()
        for key in cabinets:
            self._evaluate_cabinet(self._cabinet_names[key], at)
        lamps, self._unsettled = sorted(self._unsettled), set()
        changed = {i for i in lamps if self._update_out(i, at)}
        covered: set[int] = set()
        for i in lamps:
            if (self.out[i] or i in changed) and i not in covered:
                covered.update(self._road_changed(i, at))
        for i in lamps:
            if i not in covered:
                self._reconcile_lamp_out(i, at)
            self._judge_silent(i, at, self.category[i])

    def _has_unsettled(self) -> bool:
        return bool(self._unsettled or self._unsettled_cabinets)

    def _unsettle(self, i: int, now: int) -> None:
        self._collect_at(now)
        self._unsettled.add(i)

    def _unsettle_cabinet(self, cabinet: str, now: int) -> None:
        """Cabinets are judged at the end of the instant too, before their lamps: a reading
        order within one instant must not decide between a cabinet alert and lamp alerts."""
        self._collect_at(now)
        self._unsettled_cabinets.add(self._cabinet_keys[cabinet])

    def _collect_at(self, now: int) -> None:
        """Work is collected for instant `now`; what an earlier instant collected is judged first."""
        if self._has_unsettled() and now != self._unsettled_at:
            self.settle()
        self._unsettled_at = now

    def lamp_reading(self, lamp_id: str, ts_ms: int, on: bool, fault: str | None) -> None:
        """A stored or live lamp reading; older than the lamp's latest, it changes nothing."""
        i = self.fleet.index.get(lamp_id)
        if i is None:
            return
        if self.timers.any_due(ts_ms) or (
                ts_ms > self._unsettled_at and (self._unsettled or self._unsettled_cabinets)):
            self.advance(ts_ms)
        elif ts_ms > self.now:
            self.now = ts_ms
        self._heard_from(self.fleet.gateway_of[i], ts_ms)
        last = self.last_ts[i]
        if ts_ms <= last:
            return
        litish = on and fault not in DARK_FAULTS
        if (self.fast_paths and litish == self.litish[i] and on == self.relay_on[i]
                and fault == self.fault[i] and self.now - ts_ms <= self.config.stale_after_ms
                and not self.flags[i] and not self.out[i] and not self.has_works[i]
                and self.category[i] in _FRESH and i not in self._changes):  # _quiet, inlined
            self.last_ts[i] = ts_ms  # same state, still fresh: only its clock moves
            return
        if last < 0 or litish != bool(self.litish[i]):
            self._note_change(i, ts_ms, first=last < 0)
            self.since[i] = ts_ms
        self.last_ts[i], self.litish[i], self.relay_on[i], self.fault[i] = ts_ms, litish, on, fault
        self._evaluate_lamp(i, self.now)

    def gateway_status(self, gateway: str, online: bool, ts_ms: int) -> None:
        """A live `online`/`offline` status (retained replays are not news)."""
        state = self._gateways.get(gateway)
        if state is None:
            return
        self.advance(ts_ms)
        state.offline_since = None if online else (state.offline_since or self.now)
        self._evaluate_gateway(gateway, self.now)

    def assume(self, condition: Condition) -> None:
        """Hold an alert that storage says is open (the live runner's restart) until the data
        says otherwise: a restart neither repeats it nor resolves it for want of evidence."""
        self._active[(condition.subject, condition.kind)] = condition
        self._flag(condition.kind, condition.subject, True)
        lamps = [self.fleet.index[d] for d in condition.devices if d in self.fleet.index]
        if condition.kind in ("lamp_out", "blind_spot"):
            for i in lamps:
                self.out[i] = 1
                if condition.kind == "blind_spot":
                    self._runs[i] = condition.subject
        elif condition.kind == "cabinet_failure":
            state = self._cabinets.get(condition.subject.removeprefix("cabinet:"))
            if state is not None:
                state.active = True
        elif condition.kind == "gateway_offline":
            state = self._gateways.get(condition.subject.removeprefix("gateway:"))
            if state is not None:  # silent already: a reading or an `online` status clears it
                state.last_heard = self.start_ms - self.config.lamp_silent_after_ms
                self._evaluate_gateway(condition.subject.removeprefix("gateway:"), self.now)

    def take_transitions(self) -> list[Transition]:
        out, self.transitions = self.transitions, []
        return out

    # Wakes ---------------------------------------------------------------------------------------
    def _schedule(self, kind: int, index: int, at_ms: int) -> None:
        self.timers.schedule(self._key_base[kind] + index, at_ms)

    def _wake_key(self, key: int, at: int) -> None:
        base = self._key_base
        if key < base[_CABINET]:
            if not self._fresh_quiet_wake(key, at):
                self._evaluate_lamp(key, at)
        elif key < base[_GATEWAY]:
            self._unsettle_cabinet(self._cabinet_names[key - base[_CABINET]], at)
        elif key < base[_ZONE]:
            self._evaluate_gateway(self._gateway_names[key - base[_GATEWAY]], at)
        else:
            self._zone_turn(key - base[_ZONE], at)

    def _quiet(self, i: int) -> bool:
        """No lamp-level alert, not out, no cycling history, no works window, fresh category."""
        return (not self.flags[i] and not self.out[i] and not self.has_works[i]
                and self.category[i] in _FRESH and i not in self._changes)

    def _fresh_quiet_wake(self, i: int, at: int) -> bool:
        """A quiet lamp woken for staleness that is still fresh (it reported since, without a
        change): re-arm for its new staleness instant. Not for a dark lamp at night or a lit one
        by day, whose holds are running."""
        stale_after = self.config.stale_after_ms
        if not self.fast_paths or not self._quiet(i) or at - self.last_ts[i] > stale_after \
                or self.config.lamp_silent_after_ms <= stale_after:
            return False
        phase = self.phases.phase(self.fleet.zone_of[i], at)
        if (phase == "night") != bool(self.litish[i]):
            return False
        self._schedule(_LAMP, i, self.last_ts[i] + stale_after + 1)
        return True

    # Zones: the turn of night and day -----------------------------------------------------------
    def _schedule_zone(self, key: int, now: int) -> None:
        """Wake the zone when the lamps still dark after dusk are due (night start + lamp_out
        hold) and when the lamps still lit after dawn are (day start + day_burner hold)."""
        zone = self._zone_names[key]
        cfg = self.config
        self._schedule(_ZONE, key, min(
            self.phases.turn_after(zone, now, "night", cfg.lamp_out_after_ms),
            self.phases.turn_after(zone, now, "day", cfg.day_burner_after_ms)))

    def _zone_turn(self, key: int, at: int) -> None:
        """Judge the zone's dark (at night) or lit (by day) lamps: the few that did not switch."""
        zone = self._zone_names[key]
        want = DARK if self.phases.phase(zone, at) == "night" else LIT
        category = self.category
        for i in self._zone_members[zone]:
            if category[i] == want:
                self._evaluate_lamp(i, at)
        self._schedule_zone(key, at)

    # Lamps ---------------------------------------------------------------------------------------
    def _note_change(self, i: int, ts_ms: int, first: bool) -> None:
        """Remember on/off changes at night, for `cycling`."""
        if first or self.phases.phase(self.fleet.zone_of[i], ts_ms) != "night":
            return
        changes = self._changes.setdefault(i, deque())
        changes.append(ts_ms)
        while changes and changes[0] <= ts_ms - self.config.cycling_window_ms:
            changes.popleft()

    def _category_at(self, i: int, now: int) -> int:
        if not self.fleet.in_service_at(i, now):
            return OUT_OF_SERVICE
        if self.last_ts[i] < 0 or now - self.last_ts[i] > self.config.stale_after_ms:
            return STALE
        return LIT if self.litish[i] else DARK

    def _evaluate_lamp(self, i: int, now: int) -> None:
        zone, cabinet = self.fleet.zone_of[i], self.fleet.cabinet_of[i]
        old = self.category[i]
        new = self._category_at(i, now)
        if new != old:
            self.category[i] = new
            self.counts.move(zone, old, new)
            if cabinet is not None:
                self._cabinets[cabinet].move(old, new)
                self._unsettle_cabinet(cabinet, now)
        interval = self.phases.interval(zone, now)
        self._unsettle(i, now)
        self._judge_simple(i, now, new, interval)
        self._schedule(_LAMP, i, self._next_lamp_wake(i, now, new, interval))

    def _update_out(self, i: int, now: int) -> bool:
        """The sticky 'out' state: set after `lamp_out_after` dark at night, cleared when lit
        (or out of service). Returns whether it changed."""
        category = self.category[i]
        if self.out[i] and category in (LIT, OUT_OF_SERVICE):
            self.out[i] = 0
            return True
        if not self.out[i] and category == DARK:
            start, _, phase = self.phases.interval(self.fleet.zone_of[i], now)
            if phase == "night" and now >= max(self.since[i], start) + self.config.lamp_out_after_ms:
                self.out[i] = 1
                return True
        return False

    def _reconcile_lamp_out(self, i: int, now: int) -> None:
        """lamp_out = out, not part of a blind spot, not under a cabinet_failure; a cabinet that
        is only pending blocks a new lamp_out but does not clear an open one."""
        cabinet = self.fleet.cabinet_of[i]
        active = self.flags[i] & _BIT["lamp_out"]
        blocked = self._cabinet_active(cabinet) if active else self._cabinet_suppresses(cabinet)
        want = bool(self.out[i]) and i not in self._runs and not blocked
        if want and not active:
            self._set_lamp(i, "lamp_out", f"dark since {rfc3339_ms(self.since[i])}"
                           f"{self._fault_note(i)}", now)
        elif active and not want:
            self._clear_lamp(i, "lamp_out", now, "absorbed by a wider alert" if self.out[i]
                             else "taken out of service" if self.category[i] == OUT_OF_SERVICE
                             else "lamp lit again")

    def _judge_simple(self, i: int, now: int, category: int,
                      interval: tuple[int, int, str]) -> None:
        """day_burner, cycling, lamp_fault: each from this lamp's own state, no roll-up. Only a
        change is recorded (an alert that holds on is not raised again)."""
        flags = self.flags[i]
        burning = self._day_burn_since(i, category, interval)
        if burning is not None and now >= burning + self.config.day_burner_after_ms:
            if not flags & _BIT["day_burner"]:
                self._set_lamp(i, "day_burner", f"on in daylight since {rfc3339_ms(burning)}",
                               now)
        elif flags & _BIT["day_burner"] and burning is None and category != STALE:
            self._clear_lamp(i, "day_burner", now, "lamp off or night began")
        cycling = self._cycling(i, now)
        if cycling and not flags & _BIT["cycling"]:
            self._set_lamp(i, "cycling", cycling, now)
        elif not cycling and flags & _BIT["cycling"]:
            self._clear_lamp(i, "cycling", now, "no more on/off cycling")
        faulty = self.litish[i] and self.fault[i] in LIT_FAULTS and category != OUT_OF_SERVICE
        if faulty and not flags & _BIT["lamp_fault"]:
            self._set_lamp(i, "lamp_fault", f"lit but reports {self.fault[i]}", now)
        elif not faulty and flags & _BIT["lamp_fault"]:
            self._clear_lamp(i, "lamp_fault", now, "fault no longer reported")

    def _set_lamp(self, i: int, kind: AlertKind, what: str, at_ms: int) -> None:
        """Raise lamp-level `kind` for lamp i; the message is "lamp <id> <what>"."""
        site = self.fleet.site(i)
        self._set(kind, lamp_subject(site.id), _lamp_condition(site, kind, f"lamp {site.id} {what}"),
                  at_ms, "")

    def _clear_lamp(self, i: int, kind: AlertKind, at_ms: int, reason: str) -> None:
        self._set(kind, lamp_subject(self.fleet.ids[i]), None, at_ms, reason)

    def _day_burn_since(self, i: int, category: int, interval: tuple[int, int, str]) -> int | None:
        if category != LIT or interval[2] != "day":
            return None
        return max(self.since[i], interval[0])

    def _cycling(self, i: int, now: int) -> str | None:
        """What makes lamp i `cycling` now (None: nothing)."""
        if self.fault[i] == "cycling" and self.category[i] != OUT_OF_SERVICE:
            return "reports cycling"
        changes = self._changes.get(i)
        if changes:
            while changes and changes[0] <= now - self.config.cycling_window_ms:
                changes.popleft()
            if len(changes) >= self.config.cycling_changes:
                return (f"switched on/off {len(changes)} times in "
                        f"{self.config.cycling_window_ms // 60_000} min at night")
            if not changes:
                del self._changes[i]
        return None

    def _judge_silent(self, i: int, now: int, category: int) -> None:
        last = self.last_ts[i]
        heard = last if last >= 0 else self.start_ms
        silent = category != OUT_OF_SERVICE and now - heard >= self.config.lamp_silent_after_ms
        active = self.flags[i] & _BIT["lamp_silent"]
        if silent and not active:
            if self._gateway_down(self.fleet.gateway_of[i], now) \
                    or self._cabinet_suppresses(self.fleet.cabinet_of[i]):
                return
            self._set_lamp(i, "lamp_silent", f"silent since {rfc3339_ms(heard)}",
                           heard + self.config.lamp_silent_after_ms)
        elif not silent and active:
            self._clear_lamp(i, "lamp_silent", now, "lamp reported again")

    def _next_lamp_wake(self, i: int, now: int, category: int,
                        interval: tuple[int, int, str]) -> int:
        """The earliest instant after `now` at which this lamp's judgement could change without
        a reading. The turns of night and day are the zone's wakes (`_zone_turn`), not the
        lamp's: a million lamps must not all wake at dusk."""
        cfg = self.config
        best = NEVER
        if self.has_works[i]:
            best = self.fleet.service_changes_after(i, now) or NEVER
        if category == OUT_OF_SERVICE:
            return best
        last = self.last_ts[i]
        heard = last if last >= 0 else self.start_ms
        candidates = [heard + cfg.lamp_silent_after_ms]
        if category != STALE:
            candidates.append(last + cfg.stale_after_ms + 1)
        phase = interval[2]
        if category == DARK and not self.out[i] and phase == "night":
            candidates.append(max(self.since[i], interval[0]) + cfg.lamp_out_after_ms)
        elif category == LIT and phase == "day":
            candidates.append(max(self.since[i], interval[0]) + cfg.day_burner_after_ms)
        if self.flags[i] & _BIT["day_burner"]:
            candidates.append(interval[1])  # the day ends: it clears
        changes = self._changes.get(i)
        if changes:
            candidates.append(changes[0] + cfg.cycling_window_ms)
        for t in candidates:
            if now < t < best:
                best = t
        return best

    def _fault_note(self, i: int) -> str:
        return f" (reports {self.fault[i]})" if self.fault[i] in DARK_FAULTS else " (reports off)"

    # Roads: blind spots --------------------------------------------------------------------------
    def _road_changed(self, i: int, at_ms: int) -> list[int]:
        """Recompute the dark stretches around lamp i; raise, grow or clear blind spots; judge
        lamp_out for the lamps around. Returns the lamps it judged."""
        road = self.fleet.road_of[i]
        if road is None:
            self._reconcile_lamp_out(i, at_ms)
            return [i]
        members = self.fleet.roads[road]
        rank = self.fleet.road_rank[i]
        lo, hi = rank, rank
        while lo > 0 and self._counts_for_road(members[lo - 1]):
            lo -= 1
        while hi + 1 < len(members) and self._counts_for_road(members[hi + 1]):
            hi += 1
        segment = members[max(lo - 1, 0): hi + 2]
        old_subjects = {self._runs[j] for j in segment if j in self._runs}
        new_runs = _runs([j for j in segment], self._counts_for_road)
        for j in segment:
            self._runs.pop(j, None)
        new_subjects = set()
        for run in new_runs:
            first = self.fleet.site(run[0])
            subject = road_subject(road, first.position or 0)
            new_subjects.add(subject)
            for j in run:
                self._runs[j] = subject
            self._set("blind_spot", subject, self._blind_spot(list(run), subject), at_ms, "")
        for subject in sorted(old_subjects - new_subjects):
            self._set("blind_spot", subject, None, at_ms, "stretch lit again or split")
        for j in segment:
            self._reconcile_lamp_out(j, at_ms)
        return segment

    def _counts_for_road(self, j: int) -> bool:
        return bool(self.out[j]) and not self._cabinet_suppresses(self.fleet.cabinet_of[j])

    def _blind_spot(self, run: list[int], subject: str) -> Condition:
        sites = [self.fleet.site(j) for j in run]
        first = sites[0]
        return Condition(
            "blind_spot", subject, first.zone, tuple(s.id for s in sites),
            f"{len(sites)} neighbouring lamps dark on {first.road} from position "
            f"{first.position} to {sites[-1].position}: {', '.join(s.id for s in sites)}",
            Place(first.road, first.position, first.lat, first.lon))

    # Cabinets ------------------------------------------------------------------------------------
    def _cabinet_suppresses(self, cabinet: str | None) -> bool:
        """The cabinet is failing (alert open) or about to be (pending its hold)."""
        if cabinet is None:
            return False
        state = self._cabinets[cabinet]
        return state.pending_since is not None or state.active

    def _cabinet_active(self, cabinet: str | None) -> bool:
        return cabinet is not None and self._cabinets[cabinet].active

    def _evaluate_cabinet(self, cabinet: str, now: int) -> None:
        state = self._cabinets[cabinet]
        members = state.members
        zone = self.fleet.zone_of[members[0]]
        phase = self.phases.phase(zone, now)
        gateways_up = (now > self.start_ms + self.config.stale_after_ms
                       and all(not self._gateway_down(g, now) for g in state.gateways))
        down = state.counts[STALE] + (state.counts[DARK] if phase == "night" else 0)
        serving = state.counts[LIT] + state.counts[DARK] + state.counts[STALE]
        failing = (gateways_up and serving >= 2
                   and down >= self.config.cabinet_down_fraction * serving)
        was_suppressing = state.pending_since is not None or state.active
        wake = NEVER
        if failing:
            if state.pending_since is None:
                state.pending_since = now
            qualify = state.pending_since + self.config.lamp_out_after_ms
            if not state.active and now >= qualify:
                self._raise_cabinet(cabinet, down, serving, qualify)
            elif not state.active:
                wake = qualify
        else:
            state.pending_since = None
            if state.active and gateways_up:
                state.active = False
                self._set("cabinet_failure", cabinet_subject(cabinet), None, now,
                          f"{down} of {serving} lamps dark or silent: below the threshold")
        if (state.active or state.pending_since is not None
                or state.counts[DARK] + state.counts[STALE]
                >= self.config.cabinet_down_fraction * serving > 0):
            wake = min(wake, self.phases.interval(zone, now)[1])  # night may start or end it
        if not gateways_up and serving:
            wake = min(wake, self.start_ms + self.config.stale_after_ms + 1) \
                if now <= self.start_ms + self.config.stale_after_ms else wake
        self._schedule(_CABINET, self._cabinet_keys[cabinet], wake)
        if was_suppressing != (state.pending_since is not None or state.active):
            self._rejudge(members, now)

    def _raise_cabinet(self, cabinet: str, down: int, serving: int, at_ms: int) -> None:
        """Raise cabinet_failure and absorb its lamps' lamp_out, lamp_silent and blind spots."""
        state = self._cabinets[cabinet]
        state.active = True
        self._set("cabinet_failure", cabinet_subject(cabinet),
                  self._cabinet_condition(cabinet, down, serving), at_ms, "")
        for j in state.members:
            self._set("lamp_silent", lamp_subject(self.fleet.ids[j]), None, at_ms,
                      "absorbed by cabinet_failure")
        self._rejudge(state.members, at_ms)

    def _rejudge(self, members: list[int], now: int) -> None:
        """A roll-up began or ended: the members' road stretches and lamp alerts follow."""
        for j in members:
            self._unsettle(j, now)

    def _cabinet_condition(self, cabinet: str, down: int, serving: int) -> Condition:
        members = self._cabinets[cabinet].members
        sites = [self.fleet.site(j) for j in members]
        first = sites[0]
        return Condition(
            "cabinet_failure", cabinet_subject(cabinet), first.zone, tuple(s.id for s in sites),
            f"cabinet {cabinet}: {down} of {serving} lamps dark or silent",
            Place(first.road, first.position, first.lat, first.lon))

    # Gateways ------------------------------------------------------------------------------------
    def _heard_from(self, gateway: str, ts_ms: int) -> None:
        state = self._gateways.get(gateway)
        if state is None or ts_ms <= state.last_heard:
            return
        state.last_heard = ts_ms
        if state.down or state.alerting:
            self._evaluate_gateway(gateway, self.now)

    def _gateway_down(self, gateway: str, now: int) -> bool:
        state = self._gateways[gateway]
        return state.offline_since is not None or now - state.last_heard > self.config.stale_after_ms

    def _evaluate_gateway(self, gateway: str, now: int) -> None:
        state, cfg = self._gateways[gateway], self.config
        subject = gateway_subject(gateway)
        silent_at = state.last_heard + cfg.lamp_silent_after_ms
        if state.offline_since is not None or now >= silent_at:
            at = state.offline_since if state.offline_since is not None else silent_at
            reason = "status offline" if state.offline_since is not None else "no reading"
            if not self._is_active(subject, "gateway_offline"):
                self._raise_gateway(gateway, max(at, self.start_ms), reason)
        elif not self._gateway_down(gateway, now):
            self._set("gateway_offline", subject, None, now, "gateway online again")
        down = self._gateway_down(gateway, now)
        if down != state.down:
            state.down = down
            self._rejudge(self.fleet.by_gateway[gateway], now)
            for cabinet in sorted({self.fleet.cabinet_of[j]
                                   for j in self.fleet.by_gateway[gateway]} - {None}):
                self._unsettle_cabinet(cabinet, now)
        state.alerting = self._is_active(subject, "gateway_offline")
        stale_at = state.last_heard + cfg.stale_after_ms + 1
        upcoming = [t for t in (stale_at, silent_at) if t > now]
        if upcoming and state.offline_since is None:
            self._schedule(_GATEWAY, self._gateway_keys[gateway], min(upcoming))

    def _raise_gateway(self, gateway: str, at_ms: int, reason: str) -> None:
        members = self.fleet.by_gateway[gateway]
        first = self.fleet.site(members[0])
        since = self._gateways[gateway].last_heard
        self._set("gateway_offline", gateway_subject(gateway), Condition(
            "gateway_offline", gateway_subject(gateway), first.zone,
            tuple(self.fleet.ids[j] for j in members),
            f"gateway {gateway} offline ({reason}); last reading {rfc3339_ms(since)}"),
            at_ms, "")
        for j in members:
            self._set("lamp_silent", lamp_subject(self.fleet.ids[j]), None, at_ms,
                      "absorbed by gateway_offline")

    # Conditions ----------------------------------------------------------------------------------
    def _is_active(self, subject: str, kind: AlertKind) -> bool:
        return (subject, kind) in self._active

    def _set(self, kind: AlertKind, subject: str, condition: Condition | None, at_ms: int,
             reason: str) -> None:
        """Make (subject, kind) hold `condition` (None: not hold); emit only real changes."""
        key = (subject, kind)
        known = self._active.get(key)
        if condition is None:
            if known is not None:
                del self._active[key]
                self._flag(kind, subject, False)
                self.transitions.append(Cleared(kind, subject, at_ms, reason))
        elif known != condition:
            self._active[key] = condition
            self._flag(kind, subject, True)
            self.transitions.append(Raised(condition, at_ms))

    def _flag(self, kind: AlertKind, subject: str, active: bool) -> None:
        bit = _BIT.get(kind)
        i = self.fleet.index.get(subject[5:]) if bit else None  # "lamp:<id>"
        if bit and i is not None:
            self.flags[i] = self.flags[i] | bit if active else self.flags[i] & ~bit


class _CabinetState:
    __slots__ = ("members", "gateways", "counts", "pending_since", "active")

    def __init__(self, members: list[int], gateways: set[str]) -> None:
        self.members = members
        self.gateways = sorted(gateways)
        self.counts = [0, 0, 0, 0]
        self.counts[OUT_OF_SERVICE] = len(members)
        self.pending_since: int | None = None
        self.active = False

    def move(self, old: int, new: int) -> None:
        self.counts[old] -= 1
        self.counts[new] += 1


class _GatewayState:
    __slots__ = ("last_heard", "offline_since", "down", "alerting")

    def __init__(self, start_ms: int) -> None:
        self.last_heard = start_ms  # silence is measured from the start when never heard
        self.offline_since: int | None = None
        self.down = False
        self.alerting = False  # its gateway_offline alert is active


def _lamp_condition(site, kind: AlertKind, message: str) -> Condition:  # noqa: ANN001
    return Condition(kind, lamp_subject(site.id), site.zone, (site.id,), message,
                     Place(site.road, site.position, site.lat, site.lon))


def _runs(members: list[int], is_out) -> list[list[int]]:  # noqa: ANN001
    """Maximal stretches of at least two consecutive out lamps."""
    runs, current = [], []
    for j in members:
        if is_out(j):
            current.append(j)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = []
    if len(current) >= 2:
        runs.append(current)
    return runs
