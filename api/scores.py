"""Monthly zone scores, the quarterly ranking and the rectification list: pure, over plain facts.

A zone's month (town local time) is scored out of 100 from six parts, each in [0, 1] and
weighted by `ScoreRules.weights` (settings `score_weights`):

- **lighting**: the month's time-weighted lighting rate (the `report lighting` mean) against the
  zone's target: 1 at or above the target, 0 at or below `lighting_floor`, linear between.
- **on_time**: alerts resolved by their deadline / alerts whose deadline fell in the month (the
  on-time rate digital city-management schemes count).
- **overdue**: 1 - `overdue_penalty` for each alert that was past its deadline unresolved at some
  moment of the month (never below 0).
- **repair**: `repair_target_h` / mean time to repair of the alerts resolved in the month
  (capped at 1).
- **citizen**: citizen reports of the month answered / received.
- **patrol**: night patrols the zone finished in the month (the crew console's) against
  `patrols_per_week` x the weeks of the month (so far, for the month in progress), capped at 1.
  Left out when nobody in the town finished a patrol that month: a town that does not patrol
  through the console is not scored on it, a zone that does not patrol while others do scores 0.

A part without data (no lighting samples, no alert due, nothing repaired, no report, no patrol in
the town) is left out and the other weights share its share: a zone is not rewarded or punished for
what did not happen. A month of which nothing at all is known (no lighting sample, no alert open at
any moment of it, no report, no patrol: a month not yet begun, a zone not yet in service) has no
score, rather than 100 from its overdue part alone. The quarterly ranking orders zones by the mean
of their monthly scores (months without a score are skipped), ties broken by on-time rate, then
zone id. The rectification list names the zones with alerts past deadline in the month; a zone gets
a yellow card when it had overdue alerts of `card_severity` in `card_months` consecutive months
ending with this one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from streetwatch.alerts.model import Severity
from streetwatch.settings import SCORE_PARTS, Settings

PARTS = SCORE_PARTS
DEFAULT_WEIGHTS = dict(Settings.model_fields["score_weights"].default)
_HOUR_MS = 3_600_000
Period = tuple[int, int]


@dataclass(frozen=True, slots=True)
class ScoreRules:
    """How a month is scored and when a zone gets a yellow card (settings `score_*`)."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    lighting_floor: float = 0.9
    overdue_penalty: float = 0.2
    repair_target_h: float = 24.0
    card_months: int = 2
    card_severity: Severity = "red"
    patrols_per_week: float = 3.0

    @classmethod
    def from_settings(cls, s: Settings) -> ScoreRules:
        return cls(dict(s.score_weights), s.score_lighting_floor, s.score_overdue_penalty,
                   s.score_repair_target_h, s.rectification_card_months,
                   s.rectification_card_severity, s.score_patrols_per_week)


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What scoring needs of one alert (times in epoch ms)."""

    zone: str
    severity: Severity
    raised_at_ms: int
    deadline_ms: int
    resolved_at_ms: int | None


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """What scoring needs of one citizen report."""

    zone: str
    created_at_ms: int
    answered_at_ms: int | None


@dataclass(frozen=True, slots=True)
class PatrolFacts:
    """What scoring needs of one finished night patrol."""

    zone: str
    finished_at_ms: int


@dataclass(frozen=True, slots=True)
class ZoneMonthScore:
    """A zone's month: the score, every part and the figures behind it."""

    zone: str
    score: float | None
    parts: dict[str, float | None]
    lighting_rate: float | None
    target: float
    alerts_raised: int  # raised in the month (any deadline)
    alerts_due: int
    resolved_on_time: int
    on_time_rate: float | None
    overdue: int
    overdue_by_severity: dict[str, int]
    repaired: int
    mean_time_to_repair_h: float | None
    reports: int
    reports_answered: int
    patrols: int = 0  # finished in the month


@dataclass(frozen=True, slots=True)
class RankedZone:
    """A zone's place in the quarter."""

    rank: int
    zone: str
    score: float | None
    monthly: tuple[float | None, ...]
    on_time_rate: float | None


@dataclass(frozen=True, slots=True)
class Rectification:
    """A zone with alerts past deadline in the month, and whether it earns a yellow card."""

    zone: str
    overdue: int
    overdue_by_severity: dict[str, int]
    yellow_card: bool
    months_with_overdue_severe: int


# Months --------------------------------------------------------------------------------------
def score_month(month: Period, now_ms: int, zones: Iterable[str],
                lighting: Mapping[str, float | None], targets: Mapping[str, float],
                alerts: Sequence[AlertFacts], reports: Sequence[ReportFacts],
                rules: ScoreRules, patrols: Sequence[PatrolFacts] = ()) -> list[ZoneMonthScore]:
    """Every zone's score for `month` ([start, end) ms) as known at `now_ms`, zones sorted."""
    by_zone_alerts = _group(alerts)
    by_zone_reports = _group(reports)
    start, end = month
    patrolled = _group(p for p in patrols if start <= p.finished_at_ms < end
                       and p.finished_at_ms <= now_ms)
    return [_score_zone(zone, month, now_ms, lighting.get(zone), targets[zone],
                        by_zone_alerts.get(zone, []), by_zone_reports.get(zone, []), rules,
                        len(patrolled.get(zone, [])) if patrolled else None)
            for zone in sorted(set(zones))]


def _score_zone(zone: str, month: Period, now_ms: int, rate: float | None, target: float,
                alerts: Sequence[AlertFacts], reports: Sequence[ReportFacts],
                rules: ScoreRules, patrols: int | None) -> ZoneMonthScore:
    start, end = month
    raised = sum(start <= a.raised_at_ms < end for a in alerts)
    due = [a for a in alerts if start <= a.deadline_ms < end]
    on_time = sum(a.resolved_at_ms is not None and a.resolved_at_ms <= a.deadline_ms for a in due)
    late = [a for a in alerts if was_overdue(a, month, now_ms)]
    repaired = [a for a in alerts if a.resolved_at_ms is not None and start <= a.resolved_at_ms < end]
    mttr_h = (sum(a.resolved_at_ms - a.raised_at_ms for a in repaired)  # type: ignore[operator]
              / len(repaired) / _HOUR_MS) if repaired else None
    received = [r for r in reports if start <= r.created_at_ms < end]
    answered = sum(r.answered_at_ms is not None and r.answered_at_ms <= now_ms for r in received)
    on_time_rate = on_time / len(due) if due else None
    parts = {
        "lighting": None if rate is None else lighting_part(rate, target, rules.lighting_floor),
        "on_time": on_time_rate,
        "overdue": max(0.0, 1.0 - rules.overdue_penalty * len(late)),
        "repair": None if mttr_h is None else min(1.0, rules.repair_target_h / max(mttr_h, 1e-9)),
        "citizen": answered / len(received) if received else None,
        "patrol": None if patrols is None else patrol_part(patrols, month, now_ms,
                                                           rules.patrols_per_week),
    }
    if all(v is None for name, v in parts.items() if name != "overdue") and not any(
            a.raised_at_ms < min(end, now_ms + 1) and
            (a.resolved_at_ms is None or a.resolved_at_ms >= start) for a in alerts):
        parts["overdue"] = None  # nothing at all is known of the zone's month: no score, not 100
    return ZoneMonthScore(zone, weighted_score(parts, rules.weights), parts, rate, target,
                          raised, len(due), on_time, on_time_rate, len(late), _severities(late),
                          len(repaired), mttr_h, len(received), answered, patrols or 0)


def was_overdue(alert: AlertFacts, month: Period, now_ms: int) -> bool:
    """Whether the alert stood past its deadline, unresolved, at some moment of the month
    (up to `now_ms` for the month in progress)."""
    start, end = month
    if alert.deadline_ms >= min(end, now_ms):
        return False
    return alert.resolved_at_ms is None or alert.resolved_at_ms > max(alert.deadline_ms, start)


def patrol_part(patrols: int, month: Period, now_ms: int, per_week: float) -> float | None:
    """Patrols against `per_week` x the weeks of the month up to `now_ms`, at most 1 (None
    before the month has begun)."""
    start, end = month
    weeks = (min(end, now_ms) - start) / (7 * 24 * _HOUR_MS)
    if weeks <= 0:
        return None
    return min(1.0, patrols / (per_week * weeks))


def lighting_part(rate: float, target: float, floor: float) -> float:
    """1 at or above the target, 0 at or below the floor, linear between."""
    if rate >= target:
        return 1.0
    if target <= floor or rate <= floor:
        return 0.0
    return (rate - floor) / (target - floor)


def weighted_score(parts: Mapping[str, float | None], weights: Mapping[str, float]
                   ) -> float | None:
    """100 x the weighted mean of the parts that have data (None when none has, or every
    weight of those is 0)."""
    present = [(weights.get(name, 0.0), value) for name, value in parts.items()
               if value is not None]
    total = sum(weight for weight, _ in present)
    if total <= 0:
        return None
    return round(100.0 * sum(weight * value for weight, value in present) / total, 2)


# Quarter and rectification ---------------------------------------------------------------------
def rank_quarter(months: Sequence[Sequence[ZoneMonthScore]]) -> list[RankedZone]:
    """Zones ranked by the mean of their monthly scores (best first); equal scores share a
    rank only when their on-time rates are equal too."""
    zones = sorted({s.zone for month in months for s in month})
    by_zone = {zone: [next((s for s in month if s.zone == zone), None) for month in months]
               for zone in zones}
    rows = []
    for zone, scores in by_zone.items():
        values = [s.score for s in scores if s is not None and s.score is not None]
        due = sum(s.alerts_due for s in scores if s is not None)
        on_time = sum(s.resolved_on_time for s in scores if s is not None)
        rows.append((zone, sum(values) / len(values) if values else None,
                     tuple(None if s is None else s.score for s in scores),
                     on_time / due if due else None))
    rows.sort(key=lambda r: (r[1] is None, -(r[1] or 0.0), -(r[3] if r[3] is not None else 1.0),
                             r[0]))
    ranked: list[RankedZone] = []
    for place, (zone, score, monthly, on_time_rate) in enumerate(rows, start=1):
        previous = ranked[-1] if ranked else None
        tied = (previous is not None and previous.score == score
                and previous.on_time_rate == on_time_rate)
        ranked.append(RankedZone(previous.rank if tied else place,  # type: ignore[union-attr]
                                 zone, None if score is None else round(score, 2), monthly,
                                 on_time_rate))
    return ranked


def rectification_list(months: Sequence[Period], now_ms: int, alerts: Sequence[AlertFacts],
                       rules: ScoreRules) -> list[Rectification]:
    """The zones with alerts past deadline in the last of `months` (oldest first), with a yellow
    card for `card_months` consecutive months (ending with it) of overdue `card_severity`
    alerts. `months` must hold at least `card_months` months."""
    current = months[-1]
    by_zone = _group(alerts)
    rows = []
    for zone in sorted(by_zone):
        late = [a for a in by_zone[zone] if was_overdue(a, current, now_ms)]
        if not late:
            continue
        streak = 0
        for month in reversed(months):
            if not any(a.severity == rules.card_severity and was_overdue(a, month, now_ms)
                       for a in by_zone[zone]):
                break
            streak += 1
        rows.append(Rectification(zone, len(late), _severities(late),
                                  streak >= rules.card_months, streak))
    rows.sort(key=lambda r: (not r.yellow_card, -r.overdue, r.zone))
    return rows


def _severities(alerts: Iterable[AlertFacts]) -> dict[str, int]:
    counts = {"red": 0, "yellow": 0, "blue": 0}
    for alert in alerts:
        counts[alert.severity] += 1
    return counts


def _group(items: Iterable[AlertFacts] | Iterable[ReportFacts]) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in items:
        grouped.setdefault(item.zone, []).append(item)
    return grouped
