"""The crew console in a real browser at phone width: the real app under uvicorn over real SQL
and a real InfluxDB, headless Debian Chromium driven by Playwright (tests/browser.py).

A crew of zone north signs in (the key posted once: not in the URL, not in storage, the
session cookie out of script's reach), sees an alert the real rule engine raises while the page
is open (two neighbouring lamps report dark at night: a red blind spot, through the same
SqlSink/AlertStore as the live runner) appear without a reload, acknowledges and resolves it,
and the API then reports the new state. A night patrol marks a lamp dark whose telemetry says
lit: its patrol_mismatch alert shows on the patrol and in the alert list. Every page fits 360 px
without sideways scrolling, runs no script but the console's own, and shows markup in the data as
text. Screenshots at 360 px (English and Chinese) go to test-artifacts/console-*.png.
Skipped only when /usr/bin/chromium is absent.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from rules.config import RuleConfig
from rules.engine import RuleEngine
from rules.sinks import SqlSink
from rules.sources import fleet_of
from streetwatch.alerts.model import Condition, Place
from streetwatch.registry.store import load_lamps, upsert_devices
from streetwatch.settings import RULES_USER

from api_world import ZONE_CREW, api_world
from browser import artifact, chromium, needs_chromium, served
from rule_drive import FixedNights

PHONE = {"width": 360, "height": 740}
WAIT_MS = 20_000  # the page polls every second here (console_poll_s=1)
MIN = 60_000
HOSTILE = "<script>alert(1)</script>"
LAMPS = [{"id": f"N{p}", "gateway": "gw1", "zone": "north", "road": "Main St",
          "position_on_road": p, "lat": 31.2300 + 0.0004 * p, "lon": 121.4700}
         for p in range(1, 7)]


@pytest.fixture
def console(settings_for) -> Iterator[tuple]:
    """(world, base URL): zone north's lamps, one open citizen report on N3 with markup in its
    text, N3's telemetry saying lit, north's lighting rate 98.5 %; served by uvicorn."""
    with api_world(settings_for(RULES_USER, console_poll_s=1)) as world:
        upsert_devices(world.res.engine, LAMPS, [], [])
        now = world.clock()
        world.res.alerts.raise_alert(
            Condition("citizen_report", "lamp:N3", "north", ("N3",), f"citizen: {HOSTILE}",
                      Place("Main St", 3, 31.2312, 121.47)),
            now - 60 * MIN, "yellow", now + 71 * 60 * MIN, actor="citizen")
        world.res.influx.write_lines([
            f'lamp,gateway=gw1,lamp=N3,road=Main\\ St,zone=north fault="",on=true {now - MIN}',
            f"lighting_rate,zone=north rate=0.985,lit=197i,expected=200i,stale=1i,target=0.99 "
            f"{now - MIN}"])
        with served(world.client.app) as base:
            yield world, base


def rule_engine(world) -> RuleEngine:  # noqa: ANN001
    """The real rule core over the registry's lamps, writing through the live runner's sink;
    every lamp reports lit 20 minutes ago (night, by FixedNights)."""
    start = world.clock() - 20 * MIN
    engine = RuleEngine(fleet_of(load_lamps(world.res.engine)),
                        RuleConfig.from_settings(world.res.settings), FixedNights(),
                        SqlSink(world.res.alerts), start)
    for lamp in LAMPS:
        engine.lamp_reading(lamp["id"], start, True, None)
    return engine


def fits_the_phone(page) -> None:  # noqa: ANN001
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@needs_chromium
def test_a_crew_works_its_alerts_and_a_patrol_in_the_browser(console):
    world, base = console
    api = httpx.Client(base_url=base, headers=world.headers("viewer"), timeout=30)
    engine = rule_engine(world)
    with chromium() as browser:
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True,
                                      locale="en-GB")
        page = context.new_page()
        dialogs, blocked = [], []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda msg: blocked.append(msg.text)
                if "Content Security Policy" in msg.text else None)

        # Sign in: the key is posted once, never in a URL, storage or script's reach.
        page.goto(f"{base}/console")
        assert page.url == f"{base}/console/signin"
        page.screenshot(path=artifact("console-signin-360.png"), full_page=True)
        page.fill("#key", world.keys[ZONE_CREW])
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/console")
        assert world.keys[ZONE_CREW] not in page.url
        assert page.evaluate("localStorage.length + sessionStorage.length") == 0
        assert "sw_console" not in page.evaluate("document.cookie")
        page.locator("li.alert").first.wait_for(timeout=WAIT_MS)
        assert page.locator("li.alert .msg").first.inner_text() == f"citizen: {HOSTILE}"
        assert page.locator(".rate.below").inner_text() == (
            "north: lighting rate 98.5 %, target 99 % (below target)")

        # An alert the rule engine raises while the page is open appears without a reload.
        engine.lamp_reading("N4", world.clock() - 15 * MIN, False, None)
        engine.lamp_reading("N5", world.clock() - 15 * MIN, False, None)
        engine.tick(world.clock())
        (raised,) = [a for a in world.res.alerts.open_alerts() if a.kind == "blind_spot"]
        card = page.locator(f'li[data-alert-id="{raised.id}"]')
        card.wait_for(timeout=WAIT_MS)
        assert page.locator("li.alert").first.get_attribute("data-alert-id") == str(raised.id)
        assert "Red" in card.inner_text() and "New" in card.inner_text()
        fits_the_phone(page)
        page.screenshot(path=artifact("console-alerts-360.png"), full_page=True)

        # Acknowledge from the list, resolve with a note on the alert's page.
        card.locator("button", has_text="Acknowledge").click()
        page.locator(f'li[data-alert-id="{raised.id}"][data-state="acknowledged"]').wait_for(
            timeout=WAIT_MS)
        assert api.get(f"/api/v1/alerts/{raised.id}").json()["acknowledged_by"] == ZONE_CREW
        card.locator("a", has_text="Details and history").click()
        page.fill("#note", "replaced both drivers")
        page.click("#resolve")
        page.locator(f'div[data-alert-id="{raised.id}"][data-state="resolved"]').wait_for(
            timeout=WAIT_MS)
        assert "replaced both drivers" in page.locator("#history").inner_text()
        fits_the_phone(page)
        page.screenshot(path=artifact("console-alert-resolved-360.png"), full_page=True)
        shown = api.get(f"/api/v1/alerts/{raised.id}").json()
        assert (shown["state"], shown["resolved_by"], shown["resolve_note"]) == (
            "resolved", ZONE_CREW, "replaced both drivers")
        assert [h["event"] for h in shown["history"]] == ["raised", "acknowledged", "resolved"]

        # A night patrol: N3 is on the route (a citizen reported it); marked dark, while its
        # telemetry says lit: a patrol_mismatch alert.
        page.goto(f"{base}/console/patrol")
        assert page.locator("#route li.stop").first.get_attribute("data-lamp") == "N3"
        page.screenshot(path=artifact("console-patrol-route-360.png"), full_page=True)
        page.click("#start")
        page.wait_for_url(f"{base}/console/patrol/*")
        stop = page.locator('li.stop[data-lamp="N3"]')
        stop.locator("textarea").fill("dark, photo 0042")
        stop.locator("button", has_text="Dark").click()
        link = page.locator('li.stop[data-lamp="N3"] a.mismatch-alert')
        link.wait_for(timeout=WAIT_MS)
        fits_the_phone(page)
        page.screenshot(path=artifact("console-patrol-mismatch-360.png"), full_page=True)
        mismatches = api.get("/api/v1/alerts?kind=patrol_mismatch").json()["items"]
        assert [(a["subject"], a["severity"]) for a in mismatches] == [("lamp:N3", "yellow")]
        assert link.get_attribute("href") == f"/console/alerts/{mismatches[0]['id']}"
        page.click("#finish")
        page.goto(f"{base}/console")
        page.locator(f'li[data-alert-id="{mismatches[0]["id"]}"]').wait_for(timeout=WAIT_MS)

        # The same page in Chinese.
        page.goto(f"{base}/console?lang=zh")
        assert page.locator("h1").inner_text() == "未处理告警"
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        fits_the_phone(page)
        page.screenshot(path=artifact("console-alerts-zh-360.png"), full_page=True)

        scripts = page.locator("script")
        assert [scripts.nth(i).get_attribute("src") for i in range(scripts.count())] == [
            "/console/static/console.js"]
        assert dialogs == [] and blocked == []
        context.close()
    api.close()
    assert artifact("console-alerts-360.png").stat().st_size > 10_000
