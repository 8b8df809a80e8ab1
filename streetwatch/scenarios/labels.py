"""Compare a replay's output lines with a scenario's labels: each label met or missed, plus the
alerts nobody expected.

Pure. The lines are the JSON lines `rules.replay.replay_lines` prints (pure replay or stored
replay alike); times in the results are read on the scenario clock ("19:10"), so a miss reads like
the scenario file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from streetwatch.scenarios.format import AlertLabel, RateLabel, Scenario

_RATE_TOLERANCE = 5e-7  # the replay prints rates rounded to 6 decimals


@dataclass(frozen=True, slots=True)
class LabelResult:
    """One expectation of the scenario and whether the replay met it (`seen`: what it saw)."""

    label: str
    met: bool
    seen: str = ""


def check(lines: Iterable[str], scenario: Scenario, anchor_ms: int) -> list[LabelResult]:
    """Alert labels, rate labels, then the unexpected alerts (or one met "no other alerts")."""
    documents = [json.loads(line) for line in lines]
    alerts = [d for d in documents if d.get("type") == "alert"]
    for alert in alerts:
        alert["offset_ms"] = _ms(alert["ts"]) - anchor_ms
    used: set[int] = set()
    results = [_alert_result(label, alerts, used, scenario) for label in scenario.alerts]
    samples = [d for d in documents if d.get("type") == "lighting_rate"]
    results += [_rate_result(label, samples, scenario, anchor_ms) for label in scenario.rates]
    return results + _unexpected(alerts, used, scenario)


def _ms(rfc3339: str) -> int:
    moment = datetime.fromisoformat(rfc3339)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _describe(alert: dict, scenario: Scenario) -> str:
    return (f"{alert['event']} {alert['kind']} {alert['subject']} at "
            f"{scenario.clock(alert['offset_ms'])} ({alert['severity']})")


def _alert_result(label: AlertLabel, alerts: list[dict], used: set[int],
                  scenario: Scenario) -> LabelResult:
    """Met by the closest unused alert line of that event, kind and subject within tolerance."""
    text = f"{label.event} {label.kind} {label.subject} at {scenario.clock(label.at_ms)}"
    if label.severity:
        text += f" ({label.severity})"
    if label.within_ms:
        text += f" within {label.within_ms // 1000} s"
    same = [i for i, a in enumerate(alerts) if i not in used
            and (a["event"], a["kind"], a["subject"]) == (label.event, label.kind, label.subject)]
    fits = [i for i in same if abs(alerts[i]["offset_ms"] - label.at_ms) <= label.within_ms
            and label.severity in (None, alerts[i]["severity"])]
    if fits:
        best = min(fits, key=lambda i: abs(alerts[i]["offset_ms"] - label.at_ms))
        used.add(best)
        return LabelResult(text, True, _describe(alerts[best], scenario))
    if not same:
        return LabelResult(text, False, f"no {label.event} {label.kind} for {label.subject}")
    return LabelResult(text, False, "; ".join(_describe(alerts[i], scenario) for i in same))


def _rate_result(label: RateLabel, samples: list[dict], scenario: Scenario,
                 anchor_ms: int) -> LabelResult:
    """Every sample of the zone in the label's range has the label's values (and one exists)."""
    wanted = {k: v for k, v in (("rate", label.rate), ("lit", label.lit),
                                ("expected", label.expected), ("stale", label.stale))
              if v is not None}
    when = (f"at {scenario.clock(label.from_ms)}" if label.until_ms == label.from_ms + 1 else
            f"from {scenario.clock(label.from_ms)} until {scenario.clock(label.until_ms)}")
    text = f"lighting_rate {label.zone} {when}: " + ", ".join(f"{k} {v}" for k, v in wanted.items())
    inside = [s for s in samples if s["zone"] == label.zone
              and label.from_ms <= _ms(s["ts"]) - anchor_ms < label.until_ms]
    if not inside:
        return LabelResult(text, False, f"no lighting_rate sample of {label.zone} {when}")
    wrong = [s for s in inside if not _sample_matches(s, wanted)]
    if not wrong:
        return LabelResult(text, True, f"{len(inside)} sample(s)")
    first = wrong[0]
    values = ", ".join(f"{k} {first[k]}" for k in ("rate", "lit", "expected", "stale"))
    at = scenario.clock(_ms(first["ts"]) - anchor_ms)
    return LabelResult(text, False, f"{len(wrong)} of {len(inside)} sample(s) differ; first at "
                       f"{at}: {values}")


def _sample_matches(sample: dict, wanted: dict[str, float | int]) -> bool:
    for key, value in wanted.items():
        if key == "rate":
            if abs(sample["rate"] - value) > _RATE_TOLERANCE:
                return False
        elif sample[key] != value:
            return False
    return True


def _unexpected(alerts: list[dict], used: set[int], scenario: Scenario) -> list[LabelResult]:
    """Unlabelled alerts the scenario forbids: all (no_other_alerts) or those of forbidden kinds."""
    rule = ("no other alerts" if scenario.no_other_alerts else
            f"no other {', '.join(scenario.forbidden_kinds)} alerts")
    found = [LabelResult(rule, False, f"unexpected: {_describe(a, scenario)}")
             for i, a in enumerate(alerts) if i not in used
             and (scenario.no_other_alerts or a["kind"] in scenario.forbidden_kinds)]
    return found or [LabelResult(rule, True)]
