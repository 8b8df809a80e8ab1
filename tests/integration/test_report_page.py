"""`GET /reports/monthly` and `streetwatch report monthly --html`, over real SQL (SQLite and
PostgreSQL) and a real InfluxDB holding one November (tests/report_month.py): a key is needed,
a zone-bound key sees its zones only, a bad month is 422 as in the API, markup in a zone name
stays text, and the command writes the very bytes the API serves. The figures against the
API's JSON, in a real browser: test_report_page_browser.py."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from streetwatch.alerts.model import rfc3339_ms
from streetwatch.settings import RULES_USER

from api_world import ZONE_CREW, api_world
from console_client import browser, signed_in
from report_month import EVERY_S, HOSTILE_ZONE, MONTH, NOW_MS, seed_november

PAGE = f"/reports/monthly?month={MONTH}"


@pytest.fixture
def november(settings_for, sql_url):
    """The seeded API on each SQL backend (SQLite, and PostgreSQL where reachable)."""
    with api_world(settings_for(RULES_USER, rules_every_s=EVERY_S,
                                database_url=sql_url)) as world:
        seed_november(world)
        yield world


class Cells(HTMLParser):
    """Text of each `data-field` cell, by table id and row `data-zone`; and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.tags: set[str] = set()
        self._table = self._zone = self._field = None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001, ANN201
        self.tags.add(tag)
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = {}
        elif tag == "tr" and "data-zone" in attrs:
            self._zone = attrs["data-zone"]
            self.tables[self._table][self._zone] = {}
        elif tag == "td" and self._zone is not None:
            self._field = attrs.get("data-field")
            self.tables[self._table][self._zone][self._field] = ""

    def handle_endtag(self, tag):  # noqa: ANN001, ANN201
        if tag == "td":
            self._field = None
        elif tag == "tr":
            self._zone = None

    def handle_data(self, data):  # noqa: ANN001, ANN201
        if self._field is not None:
            self.tables[self._table][self._zone][self._field] += data.strip()


def cells(html: str) -> Cells:
    parser = Cells()
    parser.feed(html)
    return parser


def test_the_page_is_html_behind_a_key(november):
    assert november.get(PAGE, who=None).status_code == 401
    page = november.get(PAGE, who="viewer")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in page.headers["content-security-policy"]
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["cache-control"] == "no-store"
    found = cells(page.text)
    assert set(found.tables) == {"scores-table", "ranking-table", "lighting-table",
                                 "alerts-table", "rectification-table", "citizen-table"}
    assert found.tables["scores-table"]["south"]["zone"] == "south"
    assert found.tables["rectification-table"]["north"]["yellow_card"] == "yes"
    assert f'datetime="{rfc3339_ms(NOW_MS)}"' in page.text


def test_markup_in_a_zone_name_is_shown_as_text(november):
    page = november.get(PAGE, who="viewer")
    found = cells(page.text)
    assert "script" not in found.tags and "<script" not in page.text
    assert found.tables["scores-table"][HOSTILE_ZONE]["zone"] == HOSTILE_ZONE
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_a_zone_bound_key_sees_its_zones_only(november):
    page = november.get(PAGE, who=ZONE_CREW)
    assert page.status_code == 200
    found = cells(page.text)
    for table in ("scores-table", "ranking-table", "lighting-table", "alerts-table",
                  "rectification-table", "citizen-table"):
        assert set(found.tables[table]) == {"north"}, table
    town = november.get("/api/v1/ranking/quarterly?quarter=2026-Q4", who="admin").json()
    ranks = {z["zone"]: str(z["rank"]) for z in town["zones"]}
    assert found.tables["ranking-table"]["north"]["rank"] == ranks["north"]  # the town's rank
    assert "south" not in page.text and "_city" not in page.text and "Town (all" not in page.text


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "'; DROP TABLE alerts; --", "1969-12",
                                 "2026-11%27"])
def test_a_bad_month_is_422_as_in_the_api(november, bad):
    page = november.get(f"/reports/monthly?month={bad}", who="viewer")
    api = november.get(f"/api/v1/scores/monthly?month={bad}", who="viewer")
    assert page.status_code == api.status_code == 422
    assert page.json()["detail"][0]["loc"] == api.json()["detail"][0]["loc"] == ["query",
                                                                                  "month"]


def test_the_month_defaults_to_this_month(november):
    page = november.get("/reports/monthly", who="viewer")
    assert page.status_code == 200
    assert '<span id="month">2026-12</span>' in page.text
    december = november.get("/api/v1/rectification?month=2026-12", who="viewer").json()
    still_open = {z["zone"] for z in december["zones"]}
    assert still_open == {"north", HOSTILE_ZONE}  # their alerts stay overdue
    assert set(cells(page.text).tables["rectification-table"]) == still_open


def test_report_monthly_html_writes_the_bytes_the_api_serves(november, tmp_path):
    served = november.get(PAGE, who="admin")
    settings = november.res.settings
    env = {**os.environ, "STREETWATCH_DATABASE_URL": settings.sql_url(),
           "STREETWATCH_INFLUX_URL": settings.influx_base_url(),
           "STREETWATCH_INFLUX_DB": settings.influx_db,
           "STREETWATCH_RULES_EVERY_S": str(EVERY_S),
           "STREETWATCH_STATE_DIR": str(tmp_path / "state")}
    written = tmp_path / "november.html"
    run = subprocess.run([sys.executable, "-m", "streetwatch", "report", "monthly", "--month",
                          MONTH, "--at", rfc3339_ms(NOW_MS), "--html", str(written)], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert written.read_bytes() == served.content
    assert len(served.content) > 10_000


def test_the_console_serves_the_same_page_to_a_signed_in_browser(november):
    """A plain browser cannot send `Authorization`: the console's session opens the same page at
    /console/report (same bytes for the same key, the key's zones only); no session, no page."""
    for who in ("admin", ZONE_CREW):
        console = signed_in(november, who)
        page = console.get(f"/console/report?month={MONTH}")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert page.content == november.get(PAGE, who=who).content
    assert console.get("/console/report?month=2026-13").status_code == 422
    stranger = browser(november).get(f"/console/report?month={MONTH}")
    assert (stranger.status_code, stranger.headers["location"]) == (303, "/console/signin")
