"""The boards' InfluxQL (DESIGN s.4 measurements), with Grafana's variables left in place.

`$zone` and `$gateway` are multi-value variables used as regexes (`/^$zone$/`; All is `.*`);
`$timeFilter`, `$__interval`, `$__interval_ms` and `${__to}` are Grafana's own. Queries that say
"now" look back a fixed window (a lamp's `stale_after_s`), not the dashboard's range.

Open alerts come from `alert_event` alone: an alert's state and severity are those of its latest
event. Per (subject, kind) the innermost query takes the time of the latest event of each
(state, severity); the middle query's `last()` then picks the newest of those rows, with the
state and severity it carries (InfluxQL returns the tags of a selector's row). `overdue` events
are left out there: one is stamped at the same instant as the escalation that follows it, and
only escalations change the severity. An alert is overdue while its newest event among raised,
resolved and red `overdue` is the overdue one (a yellow or blue overdue alert is escalated at
once, which clears its overdue flag, as in the alert store).
"""

from __future__ import annotations

from streetwatch.alerts.model import CITY_ZONE

ZONE = '"zone" =~ /^$zone$/'
GATEWAY = '"gateway" =~ /^$gateway$/'
DRAIN = '"sensor" =~ /^$drain$/'
NOT_TOWN = f"\"zone\" != '{CITY_ZONE}'"
TOWN = f"\"zone\" = '{CITY_ZONE}'"
DAY_MS = 86_400_000
READINGS = (("lamp", "on"), ("drain", "level_cm"), ("rain", "rain_mm"))


# Template variables -------------------------------------------------------------------------
ZONES = 'SHOW TAG VALUES FROM "lamp", "drain", "rain" WITH KEY = "zone"'
GATEWAYS = f'SHOW TAG VALUES FROM "lamp", "drain", "rain" WITH KEY = "gateway" WHERE {ZONE}'
DRAINS = f'SHOW TAG VALUES FROM "drain" WITH KEY = "sensor" WHERE {ZONE} AND {GATEWAY}'


# Lighting rate ----------------------------------------------------------------------------
RATE_PER_ZONE = (f'SELECT mean("rate") FROM "lighting_rate" WHERE {ZONE} AND {NOT_TOWN} AND '
                 '$timeFilter GROUP BY time($__interval), "zone" fill(none)')
TOWN_RATE = (f'SELECT mean("rate") AS "town" FROM "lighting_rate" WHERE {TOWN} AND $timeFilter '
             'GROUP BY time($__interval) fill(none)')


def rate_now(window_s: int) -> str:
    """Each zone's (and the town's) latest rate, if it is at most `window_s` old."""
    return (f'SELECT last("rate") AS "rate" FROM "lighting_rate" WHERE {ZONE} AND '
            f'time > now() - {window_s}s GROUP BY "zone"')


def not_lit_now(window_s: int) -> str:
    """Lamps that should be lit and are not (silent ones included), summed over the zones."""
    return ('SELECT sum("not_lit") AS "not lit", sum("silent") AS "silent" FROM ('
            'SELECT last("expected") - last("lit") AS "not_lit", last("stale") AS "silent" '
            f'FROM "lighting_rate" WHERE {ZONE} AND {NOT_TOWN} AND time > now() - {window_s}s '
            'GROUP BY "zone")')


def days_left(target_ms: int) -> str:
    """Days from the end of the shown range (`${__to}`, now by default) to `target_ms`. InfluxQL
    needs a field in every expression, hence `0 * last("rate")` (one town sample ever is
    enough)."""
    return (f'SELECT ({target_ms} - ${{__to}}) / {DAY_MS} + 0 * last("rate") AS "days left" '
            f'FROM "lighting_rate" WHERE {TOWN}')


def daily_rate(timezone: str) -> str:
    """The town's and each zone's mean rate per local day: the campaign's trend."""
    return (f'SELECT mean("rate") FROM "lighting_rate" WHERE ({ZONE} OR {TOWN}) AND $timeFilter '
            f"GROUP BY time(1d), \"zone\" fill(none) tz('{timezone}')")


# Alerts -------------------------------------------------------------------------------------
_LATEST_OF_EACH = ('SELECT last("alert_id") AS "id", "device", "message" FROM "alert_event" '
                   f'WHERE "state" !~ /^(notice|overdue)$/ AND {ZONE} '
                   'GROUP BY "subject", "kind", "state", "severity", "zone"')
CURRENT_ALERTS = ('SELECT last("id") AS "id", "state", "severity", "zone", "device", "message" '
                  f'FROM ({_LATEST_OF_EACH}) GROUP BY "subject", "kind"')


def open_alerts(severity: str) -> str:
    """How many alerts are open with `severity` now."""
    return (f'SELECT count("id") AS "{severity}" FROM ({CURRENT_ALERTS}) '
            f"WHERE \"state\" != 'resolved' AND \"severity\" = '{severity}'")


OVERDUE_ALERTS = (
    'SELECT count("id") AS "overdue" FROM (SELECT last("id") AS "id", "state" FROM ('
    'SELECT last("alert_id") AS "id" FROM "alert_event" WHERE ("state" = \'raised\' OR '
    "\"state\" = 'resolved' OR (\"state\" = 'overdue' AND \"severity\" = 'red')) AND "
    f'{ZONE} GROUP BY "subject", "kind", "state") GROUP BY "subject", "kind") '
    "WHERE \"state\" = 'overdue'")
OPEN_ALERT_LIST = ('SELECT "id", "severity", "state", "zone", "device", "message" FROM '
                   f"({CURRENT_ALERTS}) WHERE \"state\" != 'resolved' GROUP BY \"subject\", \"kind\"")
RAISED_BY_KIND = ('SELECT count("alert_id") FROM "alert_event" WHERE "state" = \'raised\' AND '
                  f'{ZONE} AND $timeFilter GROUP BY time($__interval), "kind" fill(none)')
RECENT_EVENTS = ('SELECT "zone", "kind", "severity", "state", "subject", "alert_id", "device", '
                 f'"message" FROM "alert_event" WHERE {ZONE} AND $timeFilter '
                 'ORDER BY time DESC LIMIT 500')


# Lamps on the map ---------------------------------------------------------------------------
LAMP_POSITIONS = ('SELECT last("lat") AS "lat", last("lon") AS "lon", last("in_service") AS '
                  f'"in_service" FROM "lamp_site" WHERE {ZONE} AND {GATEWAY} '
                  'GROUP BY "lamp", "road"')


def lamp_states(window_s: int) -> str:
    """Each lamp's latest state, if it reported within `window_s` (else it is silent)."""
    return ('SELECT last("on") AS "state", last("fault") AS "fault" FROM "lamp" WHERE '
            f'{ZONE} AND {GATEWAY} AND time > now() - {window_s}s GROUP BY "lamp"')


def lamps_reporting(window_s: int, alias: str, condition: str) -> str:
    """How many lamps' latest reading within `window_s` meets `condition`."""
    return (f'SELECT count("on") AS "{alias}" FROM (SELECT last("on") AS "on", last("fault") AS '
            f'"fault" FROM "lamp" WHERE {ZONE} AND {GATEWAY} AND time > now() - {window_s}s '
            f'GROUP BY "lamp") WHERE {condition}')


# Drains -------------------------------------------------------------------------------------
_DRAIN_FILTER = f"{ZONE} AND {GATEWAY} AND {DRAIN}"
LEVELS = (f'SELECT mean("level_cm") FROM "drain" WHERE {_DRAIN_FILTER} AND $timeFilter '
          'GROUP BY time($__interval), "sensor" fill(none)')
LAST_LEVELS = (f'SELECT last("level_cm") AS "level_cm" FROM "drain" WHERE {_DRAIN_FILTER} AND '
               '$timeFilter GROUP BY "sensor", "zone"')
OVERFLOW_LEVELS = ('SELECT last("overflow_cm") AS "overflow_cm" FROM "drain_site" WHERE '
                   f'{_DRAIN_FILTER} GROUP BY "sensor"')
RAIN = (f'SELECT sum("rain_mm") FROM "rain" WHERE {ZONE} AND {GATEWAY} AND $timeFilter '
        'GROUP BY time($__interval), "gauge" fill(0)')
DRAIN_ALERTS = ('SELECT "kind", "state", "severity", "subject", "message" FROM "alert_event" '
                f'WHERE "kind" =~ /^(blockage|overflow_imminent)$/ AND {ZONE} AND $timeFilter '
                'ORDER BY time DESC LIMIT 200')
HIGH_WATER = ('SELECT "zone", "device", "message" FROM "alert_event" WHERE "state" = \'notice\' '
              f"AND \"kind\" = 'high_water' AND {ZONE} AND $timeFilter ORDER BY time DESC")
HIGH_WATER_ANNOTATION = ('SELECT "message", "zone" FROM "alert_event" WHERE '
                         f"\"state\" = 'notice' AND {ZONE} AND $timeFilter")


# Operations ---------------------------------------------------------------------------------
def stored_per_second(measurement: str, field: str) -> str:
    """Readings of `measurement` stored per second, averaged over each interval."""
    return (f'SELECT count("{field}") * 1000 / $__interval_ms AS "{measurement}" '
            f'FROM "{measurement}" WHERE {GATEWAY} AND {ZONE} AND $timeFilter '
            'GROUP BY time($__interval) fill(0)')


REJECTS_BY_REASON = (f'SELECT count("topic") FROM "ingest_reject" WHERE {GATEWAY} AND '
                     '$timeFilter GROUP BY time($__interval), "reason" fill(none)')
REJECT_TOTALS = (f'SELECT count("topic") AS "rejects" FROM "ingest_reject" WHERE {GATEWAY} AND '
                 '$timeFilter GROUP BY "reason", "gateway"')
RECENT_REJECTS = ('SELECT "reason", "gateway", "topic", "detail" FROM "ingest_reject" WHERE '
                  f'{GATEWAY} AND $timeFilter ORDER BY time DESC LIMIT 100')
RULE_LAG = ('SELECT max("lag_s") AS "lag" FROM "rules_tick" WHERE $timeFilter '
            'GROUP BY time($__interval), "runner" fill(none)')


def last_tick_lag(window_s: int) -> str:
    """Each rule runner's latest tick lag, if it ticked within `window_s` (else: no data)."""
    return (f'SELECT last("lag_s") AS "lag" FROM "rules_tick" WHERE time > now() - {window_s}s '
            'GROUP BY "runner"')


GATEWAY_STATUS = (f'SELECT last("online") AS "online" FROM "gateway_status" WHERE {GATEWAY} '
                  'GROUP BY "gateway"')
