"""The monthly report page in a real browser: the real app served by uvicorn on a random port,
over real SQL and a real InfluxDB holding one November (tests/report_month.py), opened in
headless Chromium (tests/browser.py) with a viewer key sent as the Authorization header. Every
figure read off the page equals the API's JSON answer for the same month and clock (scores,
quarterly ranking, rectification list, monthly and nightly lighting rates); the zone named
`<script>...` shows as text and runs nothing.

Artifacts, in `test-artifacts/` at the repository root (git-ignored):
`report-monthly-2026-11.png` (screenshot, full page, A4-wide viewport), `.pdf` (printed on A4)
and `.html` (the page as served).
Skipped only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from streetwatch.alerts.model import CITY_ZONE, rfc3339_ms
from streetwatch.settings import RULES_USER

from api_world import api_world
from browser import A4_VIEWPORT, artifact, chromium, needs_chromium
from browser import served as serving
from report_month import EVERY_S, HOSTILE_ZONE, MONTH, NOV_1_MS, seed_november

DASH = "\u2014"
QUARTER = "2026-Q4"


@pytest.fixture
def served(settings_for) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, viewer's headers) of the seeded app under uvicorn on a free loopback port."""
    with api_world(settings_for(RULES_USER, rules_every_s=EVERY_S)) as world:
        seed_november(world)
        with serving(world.client.app) as base:
            yield base, world.headers("viewer")


# The page's way of writing numbers, written out again here (not imported from the page).
def pct(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value * 100:.{digits}f} %"


def num(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def table(page, table_id: str) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """{row's data-zone: {cell's data-field: its visible text}} of a table on the page."""
    rows = {}
    for row in page.locator(f"#{table_id} tbody tr").all():
        fields = [cell.get_attribute("data-field") for cell in row.locator("td").all()]
        rows[row.get_attribute("data-zone")] = dict(
            zip(fields, row.locator("td").all_inner_texts(), strict=True))
    return rows


@needs_chromium
def test_the_page_shows_the_apis_figures(served):
    base, headers = served
    with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
        def get(path: str) -> dict:
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.text)
            return answer.json()

        scores = get(f"/api/v1/scores/monthly?month={MONTH}")["zones"]
        ranking = get(f"/api/v1/ranking/quarterly?quarter={QUARTER}")["zones"]
        late = get(f"/api/v1/rectification?month={MONTH}")["zones"]
        months = get(f"/api/v1/lighting-rate/monthly?month={MONTH}")["zones"]
        span = f"from={rfc3339_ms(NOV_1_MS)}&to=2026-11-30T16:00:00Z"
        nightly = {m["zone"]: get(f"/api/v1/lighting-rate/nightly?zone={m['zone']}&{span}")
                   for m in months if m["zone"] != HOSTILE_ZONE}  # not a valid id to ask for
        artifact(f"report-monthly-{MONTH}.html").write_bytes(
            api.get(f"/reports/monthly?month={MONTH}").content)

    with chromium() as browser:
        context = browser.new_context(viewport=A4_VIEWPORT, extra_http_headers=headers)
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        shown = page.goto(f"{base}/reports/monthly?month={MONTH}")
        assert shown is not None and shown.status == 200
        page.screenshot(path=artifact(f"report-monthly-{MONTH}.png"), full_page=True)
        page.emulate_media(media="print")
        page.pdf(path=artifact(f"report-monthly-{MONTH}.pdf"), format="A4",
                 print_background=True)

        assert page.locator("#month").inner_text() == MONTH
        _check_scores(table(page, "scores-table"), scores)
        _check_alerts(table(page, "alerts-table"), table(page, "citizen-table"), scores)
        _check_ranking(table(page, "ranking-table"), ranking)
        _check_rectification(table(page, "rectification-table"), late)
        _check_lighting(table(page, "lighting-table"), months)
        for zone, answer in nightly.items():
            _check_curve(page, zone, answer)
        # The zone named <script>alert(1)</script>: shown as text, nothing run.
        assert table(page, "scores-table")[HOSTILE_ZONE]["zone"] == HOSTILE_ZONE
        assert page.locator("script").count() == 0 and dialogs == []
        context.close()
    assert artifact(f"report-monthly-{MONTH}.png").stat().st_size > 50_000
    assert artifact(f"report-monthly-{MONTH}.pdf").read_bytes().startswith(b"%PDF")


def _check_scores(rows, scores) -> None:  # noqa: ANN001
    assert list(rows) == [s["zone"] for s in scores] == sorted(
        ["north", "south", "east", HOSTILE_ZONE])
    for s in scores:
        expected = {"zone": s["zone"], "score": num(s["score"]),
                    **{f"part_{p}": num(v) for p, v in s["parts"].items()}}
        assert rows[s["zone"]] == expected


def _check_alerts(alert_rows, citizen_rows, scores) -> None:  # noqa: ANN001
    for s in scores:
        severities = s["overdue_by_severity"]
        assert alert_rows[s["zone"]] == {
            "zone": s["zone"], "alerts_raised": str(s["alerts_raised"]),
            "alerts_due": str(s["alerts_due"]),
            "resolved_on_time": str(s["resolved_on_time"]),
            "on_time_rate": pct(s["on_time_rate"], 1), "overdue": str(s["overdue"]),
            "overdue_red": str(severities["red"]), "overdue_yellow": str(severities["yellow"]),
            "overdue_blue": str(severities["blue"]), "repaired": str(s["repaired"]),
            "mean_time_to_repair": DASH if s["mean_time_to_repair_h"] is None
            else f"{s['mean_time_to_repair_h']:.1f} h"}
        assert citizen_rows[s["zone"]] == {
            "zone": s["zone"], "reports": str(s["reports"]),
            "reports_answered": str(s["reports_answered"]),
            "answered_share": pct(s["parts"]["citizen"], 1)}
    north = next(s for s in scores if s["zone"] == "north")
    assert (north["alerts_due"], north["overdue"], north["reports"]) == (2, 1, 2)  # not vacuous


def _check_ranking(rows, ranking) -> None:  # noqa: ANN001
    assert list(rows) == [r["zone"] for r in ranking] and len(rows) == 4
    for r in ranking:
        assert rows[r["zone"]] == {
            "zone": r["zone"], "rank": str(r["rank"]), "score": num(r["score"]),
            **{f"month_{i}": num(v) for i, v in enumerate(r["monthly"], start=1)},
            "on_time_rate": pct(r["on_time_rate"], 1)}


def _check_rectification(rows, late) -> None:  # noqa: ANN001
    assert list(rows) == [z["zone"] for z in late] and "north" in rows
    for z in late:
        counts = z["overdue_by_severity"]
        assert rows[z["zone"]] == {
            "zone": z["zone"], "overdue": str(z["overdue"]), "overdue_red": str(counts["red"]),
            "overdue_yellow": str(counts["yellow"]), "overdue_blue": str(counts["blue"]),
            "yellow_card": "yes" if z["yellow_card"] else "no",
            "months_with_overdue_severe": str(z["months_with_overdue_severe"])}


def _check_lighting(rows, months) -> None:  # noqa: ANN001
    assert list(rows) == [m["zone"] for m in months] and CITY_ZONE in rows
    for m in months:
        assert rows[m["zone"]] == {
            "zone": "Town (all zones)" if m["zone"] == CITY_ZONE else m["zone"],
            "nights": str(m["nights"]), "mean_rate": pct(m["mean_rate"]),
            "worst_night": m["worst_night"] or DASH,
            "worst_night_rate": pct(m["worst_night_rate"]),
            "minutes_below_target": num(m["minutes_below_target"], 1)}


def _check_curve(page, zone: str, answer: dict) -> None:  # noqa: ANN001
    """The zone's chart has a dot per night with a rate, titled with it, red below target."""
    figure = page.locator(f'figure.curve[data-zone="{zone}"]')
    titles = figure.locator("svg circle title").all_text_contents()
    rated = [n for n in answer["nights"] if n["mean_rate"] is not None]
    assert titles == [f"{n['night']}: {pct(n['mean_rate'])}" for n in rated]
    below = [n for n in rated if n["mean_rate"] < answer["target"] - 1e-9]
    assert figure.locator("svg circle.below").count() == len(below)
    assert len(rated) == (27 if zone == "south" else 30)  # south: three nights without samples
