"""The crew console over the real app, real SQL (SQLite and PostgreSQL) and a real InfluxDB:
sign in and out, sessions that end with their key, CSRF and cross-site refusals, zone binding,
escaping, the alert list in urgency order, and actions that the API then reports.

Each signed-in browser is a TestClient of its own (tests/console_client.py).
"""

from __future__ import annotations

import hashlib
import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.console.access import COOKIE, LANGUAGE_COOKIE
from streetwatch.alerts.model import Condition, Place
from streetwatch.registry.models import AlertOutbox, ConsoleSession

from api_world import ZONE_CREW
from console_client import browser, csrf_of, signed_in

H = 3_600_000
HOSTILE = "<script>alert(1)</script>"


MAIN_ST = Place("Main St", 3, 31.2304, 121.4737)


def raise_alert(world, kind="lamp_out", lamp="L1", zone="north", severity="yellow",
                deadline_h=72, message=None, place=MAIN_ST):
    now = world.clock()
    condition = Condition(kind, f"lamp:{lamp}", zone, (lamp,), message or f"lamp {lamp} dark",
                          place)
    return world.res.alerts.raise_alert(condition, now, severity, now + deadline_h * H).id


def test_sign_in_sets_a_strict_http_only_cookie_and_stores_only_its_hash(api_on):
    client = browser(api_on)
    answer = client.post("/console/signin", data={"key": api_on.keys[ZONE_CREW]})
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    token = client.cookies[COOKIE]
    assert f"{COOKIE}={token}" in cookie
    for flag in ("HttpOnly", "SameSite=strict", "Path=/console", "Max-Age=43200"):
        assert flag.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # http here; https sets Secure
    assert api_on.keys[ZONE_CREW] not in cookie and token not in api_on.keys[ZONE_CREW]
    with api_on.res.engine.connect() as conn:
        stored = conn.execute(select(ConsoleSession.token_hash)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    page = client.get("/console")
    assert page.status_code == 200 and ZONE_CREW in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_https_sets_a_secure_cookie(api):
    client = TestClient(api.client.app, base_url="https://console.test", follow_redirects=False)
    answer = client.post("/console/signin", data={"key": api.keys["crew"]})
    assert answer.status_code == 303 and "secure" in answer.headers["set-cookie"].lower()


@pytest.mark.parametrize(("who", "status", "says"), [
    (None, 401, "not valid"), ("viewer", 403, "crew role")])
def test_bad_keys_and_viewers_are_refused(api, who, status, says):
    client = browser(api)
    key = "sw_000000000000_" + "x" * 43 if who is None else api.keys[who]
    answer = client.post("/console/signin", data={"key": key})
    assert answer.status_code == status and says in answer.text
    assert COOKIE not in client.cookies and key not in answer.text


def test_without_a_session_pages_go_to_sign_in_and_the_fragment_is_401(api):
    client = browser(api)
    for path in ("/console", "/console/alerts/1", "/console/patrol", "/console/patrol/1"):
        answer = client.get(path)
        assert (answer.status_code, answer.headers.get("location")) == (303, "/console/signin")
    assert client.get("/console/alerts/list").status_code == 401
    client.cookies.set(COOKIE, "x" * 43, path="/console")  # a made-up token
    assert client.get("/console").status_code == 303
    assert client.get("/console/signin").status_code == 200


def test_sign_out_deletes_the_session(api_on):
    client = signed_in(api_on)
    token = client.cookies[COOKIE]
    answer = client.post("/console/signout", data={"csrf": csrf_of(client)})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/signin"
    assert 'sw_console=""' in answer.headers["set-cookie"]
    with api_on.res.engine.connect() as conn:
        assert conn.execute(select(ConsoleSession)).all() == []
    stolen = browser(api_on)
    stolen.cookies.set(COOKIE, token, path="/console")
    assert stolen.get("/console").status_code == 303


def test_a_revoked_key_ends_its_sessions_and_sessions_expire(api_on):
    crew, zone_crew = signed_in(api_on, "crew"), signed_in(api_on)
    key_id = next(r.id for r in api_on.res.keys.list() if r.name == "crew")
    assert api_on.res.keys.revoke(key_id, api_on.clock())
    assert crew.get("/console").status_code == 303
    assert zone_crew.get("/console").status_code == 200
    api_on.clock.now_ms += api_on.res.settings.console_session_s * 1000
    assert zone_crew.get("/console").status_code == 303


def test_posts_need_the_csrf_token_and_the_same_origin(api_on):
    alert = raise_alert(api_on)
    client = signed_in(api_on)
    token = csrf_of(client)
    wrong = token[:-1] + ("B" if token.endswith("A") else "A")
    refused = [client.post(f"/console/alerts/{alert}/ack", data={"back": "list"}),
               client.post(f"/console/alerts/{alert}/ack", data={"csrf": wrong}),
               client.post(f"/console/alerts/{alert}/ack", data={"csrf": token},
                           headers={"Origin": "https://evil.example"}),
               client.post(f"/console/alerts/{alert}/ack", data={"csrf": token},
                           headers={"Sec-Fetch-Site": "cross-site"}),
               client.post("/console/signout", data={"csrf": ""})]
    assert [r.status_code for r in refused] == [403] * 5
    assert api_on.res.alerts.get(alert).state == "raised"
    assert client.post(f"/console/alerts/{alert}/ack", content=f"csrf={token}",
                       headers={"Content-Type": "text/plain"}).status_code == 415
    done = client.post(f"/console/alerts/{alert}/ack", data={"csrf": token},
                       headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert done.status_code == 303 and api_on.res.alerts.get(alert).state == "acknowledged"


def test_a_zone_bound_key_sees_and_acts_on_its_zones_only(api_on):
    north = raise_alert(api_on, lamp="N1", zone="north", message="north lamp dark")
    south = raise_alert(api_on, lamp="S1", zone="south", message="south lamp dark")
    client = signed_in(api_on)
    page = client.get("/console").text
    assert f'data-alert-id="{north}"' in page and f'data-alert-id="{south}"' not in page
    token = csrf_of(client)
    assert client.get(f"/console/alerts/{south}").status_code == 404
    answer = client.post(f"/console/alerts/{south}/ack", data={"csrf": token})
    assert answer.status_code == 404 and api_on.res.alerts.get(south).state == "raised"
    everyone = signed_in(api_on, "crew").get("/console").text
    assert f'data-alert-id="{north}"' in everyone and f'data-alert-id="{south}"' in everyone


def test_every_value_is_escaped(api):
    alert = raise_alert(api, message=HOSTILE, place=Place(HOSTILE, 1, None, None))
    client = signed_in(api)
    client.post(f"/console/alerts/{alert}/comment",
                data={"csrf": csrf_of(client), "text": '"><img src=x onerror=alert(2)>'})
    for path in ("/console", f"/console/alerts/{alert}", "/console/alerts/list"):
        html = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert "<script>alert" not in html and "<img src=x" not in html


def test_the_list_is_most_urgent_first_with_overdue_marked_and_time_left(api):
    blue = raise_alert(api, lamp="B", severity="blue", deadline_h=100)
    yellow_late = raise_alert(api, lamp="Y2", deadline_h=50)
    yellow_soon = raise_alert(api, lamp="Y1", deadline_h=2)
    red = raise_alert(api, kind="blind_spot", lamp="R", severity="red", deadline_h=24)
    api.clock.now_ms += 3 * H  # yellow_soon is now an hour overdue
    html = signed_in(api).get("/console").text
    order = [int(x) for x in re.findall(r'data-alert-id="(\d+)"', html)]
    assert order == [red, yellow_soon, yellow_late, blue]
    classes = {int(alert): names.split()
               for names, alert in re.findall(r'<li class="([^"]+)" id="alert-(\d+)"', html)}
    assert [alert for alert, names in classes.items() if "overdue" in names] == [yellow_soon]
    card = html[html.index(f'id="alert-{yellow_soon}"'):html.index(f'id="alert-{yellow_late}"')]
    assert "Overdue by 1 h" in card
    assert "21 h left" in html and "4 d 1 h left" in html  # red; blue: 100 h - 3 h
    assert "https://www.openstreetmap.org/?mlat=31.230400&amp;mlon=121.473700" in html
    assert "Main St, lamp no. 3" in html


def test_actions_are_the_apis_own(api_on):
    alert = raise_alert(api_on)
    client = signed_in(api_on)
    token = csrf_of(client)
    acked = client.post(f"/console/alerts/{alert}/ack", data={"csrf": token, "back": "list"})
    assert acked.headers["location"] == f"/console#alert-{alert}"
    again = client.post(f"/console/alerts/{alert}/ack", data={"csrf": token})
    assert again.status_code == 409 and f"Already acknowledged by {ZONE_CREW}" in again.text
    blank = client.post(f"/console/alerts/{alert}/resolve", data={"csrf": token, "note": "  "})
    assert blank.status_code == 422 and api_on.res.alerts.get(alert).is_open
    client.post(f"/console/alerts/{alert}/comment", data={"csrf": token, "text": "ladder"})
    done = client.post(f"/console/alerts/{alert}/resolve",
                       data={"csrf": token, "note": "replaced the driver 更换驱动"})
    assert done.status_code == 303 and done.headers["location"] == f"/console/alerts/{alert}"
    shown = api_on.get(f"/api/v1/alerts/{alert}", who="viewer").json()
    assert (shown["state"], shown["acknowledged_by"], shown["resolved_by"],
            shown["resolve_note"]) == ("resolved", ZONE_CREW, ZONE_CREW,
                                       "replaced the driver 更换驱动")
    assert [h["event"] for h in shown["history"]] == ["raised", "acknowledged", "commented",
                                                       "resolved"]
    with api_on.res.engine.connect() as conn:
        targets = conn.execute(select(AlertOutbox.target)).scalars().all()
    assert targets == ["mqtt:streetwatch/alerts/north/yellow"] * 3  # ack, comment, resolve
    page = client.get(f"/console/alerts/{alert}").text
    assert "replaced the driver" in page and 'id="resolve"' not in page


def test_the_polled_list_answers_304_while_nothing_changed(api):
    client = signed_in(api)
    first = client.get("/console/alerts/list")
    assert first.status_code == 200 and "No open alerts." in first.text
    etag = first.headers["etag"]
    assert client.get("/console/alerts/list", headers={"If-None-Match": etag}).status_code == 304
    alert = raise_alert(api)
    changed = client.get("/console/alerts/list", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and f'data-alert-id="{alert}"' in changed.text


def test_languages_query_then_cookie_then_accept_language(api):
    client = signed_in(api)
    assert "Open alerts" in client.get("/console").text
    assert "未处理告警" in client.get("/console", headers={"Accept-Language": "zh-CN"}).text
    chosen = client.get("/console?lang=en", headers={"Accept-Language": "zh-CN,zh"})
    assert "Open alerts" in chosen.text and 'lang="en"' in chosen.text
    zh = client.get("/console?lang=zh")
    assert "未处理告警" in zh.text and 'lang="zh-CN"' in zh.text
    assert client.cookies[LANGUAGE_COOKIE] == "zh"
    assert "没有未处理的告警" in client.get("/console/alerts/list").text


def test_the_access_log_holds_neither_key_nor_session_token(api, caplog):
    caplog.set_level(logging.INFO)
    client = signed_in(api)
    token = client.cookies[COOKIE]
    client.get("/console")
    client.post("/console/signout", data={"csrf": csrf_of(client)})
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "api.request" in logged and f"{ZONE_CREW}#" in logged
    assert api.keys[ZONE_CREW] not in logged and token not in logged


def test_past_the_page_limit_the_newest_are_shown_and_the_page_says_so(api, monkeypatch):
    from api.console import alert_board

    monkeypatch.setattr(alert_board, "MAX_SHOWN", 2)
    oldest, *newer = [raise_alert(api, lamp=f"L{n}", deadline_h=10 - n) for n in range(3)]
    html = signed_in(api).get("/console").text
    assert [int(x) for x in re.findall(r'data-alert-id="(\d+)"', html)] == newer[::-1]
    assert "More alerts are open than shown: the 2 newest" in html
