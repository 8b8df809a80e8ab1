"""Compare a replay's output lines with a scenario's labels: each label met or missed, plus the
alerts (and notices) nobody expected.

Pure. The lines are the JSON lines `rules.replay.replay_lines` prints (pure replay or stored
replay alike); times in the results are read on the scenario clock ("19:10"), so a miss reads like
the scenario file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from streetwatch.scenarios.format import AlertLabel, NoticeLabel, RateLabel, Scenario

_RATE_TOLERANCE = 5e-7  # the replay prints rates rounded to 6 decimals


@dataclass(frozen=True, slots=True)
class LabelResult:
    """One expectation of the scenario and whether the replay met it (`seen`: what it saw)."""

    label: str
    met: bool
    seen: str = ""


def check(lines: Iterable[str], scenario: Scenario, anchor_ms: int) -> list[LabelResult]:
    """Alert labels, rate labels, notice labels, then the unexpected alerts and notices (or one
    met "no other alerts")."""
    documents = [json.loads(line) for line in lines]
    alerts = [d for d in documents if d.get("type") == "alert"]
    notices = [d for d in documents if d.get("type") == "notice"]
    for document in (*alerts, *notices):
        document["offset_ms"] = _ms(document["ts"]) - anchor_ms
    used: set[int] = set()
    results = [_alert_result(label, alerts, used, scenario) for label in scenario.alerts]
    samples = [d for d in documents if d.get("type") == "lighting_rate"]
    results += [_rate_result(label, samples, scenario, anchor_ms) for label in scenario.rates]
    used_notices: set[int] = set()
    results += [_notice_result(label, notices, used_notices, scenario)
                for label in scenario.notices]
    return results + _unexpected(alerts, used, notices, used_notices, scenario)


def _ms(rfc3339: str) -> int:
    moment = datetime.fromisoformat(rfc3339)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


def _describe(alert: dict, scenario: Scenario) -> str:
    return (f"{alert['event']} {alert['kind']} {alert['subject']} at "
            f"{scenario.clock(alert['offset_ms'])} ({alert['severity']})")


def _describe_notice(notice: dict, scenario: Scenario) -> str:
    return (f"notice {notice['kind']} {notice['zone']} at {scenario.clock(notice['offset_ms'])} "
            f"({', '.join(notice.get('drains', []))})")


def _alert_result(label: AlertLabel, alerts: list[dict], used: set[int],
                  scenario: Scenario) -> LabelResult:
    """Met by the closest unused alert line of that event, kind and subject within tolerance
    (with that severity, and a message containing the label's, when the label gives them)."""
    text = f"{label.event} {label.kind} {label.subject} at {scenario.clock(label.at_ms)}"
    if label.severity:
        text += f" ({label.severity})"
    if label.within_ms:
        text += f" within {label.within_ms // 1000} s"
    if label.message is not None:
        text += f" saying {label.message!r}"
    same = [i for i, a in enumerate(alerts) if i not in used
            and (a["event"], a["kind"], a["subject"]) == (label.event, label.kind, label.subject)]
    fits = [i for i in same if abs(alerts[i]["offset_ms"] - label.at_ms) <= label.within_ms
            and label.severity in (None, alerts[i]["severity"])
            and (label.message is None or label.message in alerts[i].get("message", ""))]
    if fits:
        best = min(fits, key=lambda i: abs(alerts[i]["offset_ms"] - label.at_ms))
        used.add(best)
        return LabelResult(text, True, _describe(alerts[best], scenario))
    if not same:
        return LabelResult(text, False, f"no {label.event} {label.kind} for {label.subject}")
    if label.message is None:
        seen = [_describe(alerts[i], scenario) for i in same]
    else:  # say what the alerts said, to show which reason fired
        seen = [f"{_describe(alerts[i], scenario)}: {alerts[i].get('message', '')!r}"
                for i in same]
    return LabelResult(text, False, "; ".join(seen))


def _notice_result(label: NoticeLabel, notices: list[dict], used: set[int],
                   scenario: Scenario) -> LabelResult:
    """Met by the closest unused notice line of that kind and zone within tolerance (naming
    exactly the label's drains, in any order, when the label gives them)."""
    text = f"notice {label.kind} {label.zone} at {scenario.clock(label.at_ms)}"
    if label.within_ms:
        text += f" within {label.within_ms // 1000} s"
    if label.drains is not None:
        text += f" ({', '.join(label.drains)})"
    same = [i for i, n in enumerate(notices) if i not in used
            and (n["kind"], n["zone"]) == (label.kind, label.zone)]
    fits = [i for i in same if abs(notices[i]["offset_ms"] - label.at_ms) <= label.within_ms
            and (label.drains is None
                 or sorted(label.drains) == sorted(notices[i].get("drains", [])))]
    if fits:
        best = min(fits, key=lambda i: abs(notices[i]["offset_ms"] - label.at_ms))
        used.add(best)
        return LabelResult(text, True, _describe_notice(notices[best], scenario))
    if not same:
        return LabelResult(text, False, f"no {label.kind} notice for {label.zone}")
    return LabelResult(text, False,
                       "; ".join(_describe_notice(notices[i], scenario) for i in same))


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


def _unexpected(alerts: list[dict], used: set[int], notices: list[dict], used_notices: set[int],
                scenario: Scenario) -> list[LabelResult]:
    """Unlabelled alerts and notices the scenario forbids: all (no_other_alerts) or those of
    forbidden kinds."""
    rule = ("no other alerts" if scenario.no_other_alerts else
            f"no other {', '.join(scenario.forbidden_kinds)} alerts")

    def forbidden(document: dict) -> bool:
        return scenario.no_other_alerts or document["kind"] in scenario.forbidden_kinds

    found = [LabelResult(rule, False, f"unexpected: {_describe(a, scenario)}")
             for i, a in enumerate(alerts) if i not in used and forbidden(a)]
    found += [LabelResult(rule, False, f"unexpected: {_describe_notice(n, scenario)}")
              for i, n in enumerate(notices) if i not in used_notices and forbidden(n)]
    return found or [LabelResult(rule, True)]
