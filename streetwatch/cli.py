"""The `streetwatch` command: the composition root that mounts every component's commands.

It is the one kernel module that reaches out to components (ingest, simulators); it does so inside
command functions where it can, so `streetwatch --help` stays fast and import has no side effects.
"""

from __future__ import annotations

import typer

from api.cli import apikey_app, report_monthly, report_quarterly, serve
from dashboards.cli import dashboards_app
from rules.cli import report_app, rules_app
from simulators.cli import simulate
from streetwatch.alerts.cli import alerts_app
from streetwatch.demo import demo
from streetwatch.registry.cli import db_app, devices_app
from streetwatch.services.cli import services_app

app = typer.Typer(
    help="Streetwatch: streetlight and drain telemetry (MQTT -> InfluxDB), rules, API.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(services_app, name="services", help="Start/stop the local Mosquitto and InfluxDB.")
app.add_typer(db_app, name="db", help="SQL registry schema (Alembic migrations).")
app.add_typer(devices_app, name="devices", help="Device registry: import lamps, drains, gauges.")
app.add_typer(alerts_app, name="alerts", help="Alerts: list, acknowledge, resolve.")
app.add_typer(rules_app, name="rules", help="Rule engine: live runner (default), replay, check.")
report_app.command("monthly")(report_monthly)
report_app.command("quarterly")(report_quarterly)
app.add_typer(report_app, name="report", help="Reports (CSV): lighting, drains, dredging, "
                                               "monthly scores (or the --html page), quarterly "
                                               "ranking.")
app.add_typer(dashboards_app, name="dashboards", help="Grafana dashboards: export, push.")
app.add_typer(apikey_app, name="apikey", help="HTTP API keys: create, list, revoke.")
app.command("api", help="Serve the HTTP API (FastAPI, OpenAPI at /docs).")(serve)
app.command("simulate", help="Publish simulated gateway readings over MQTT.")(simulate)
app.command("demo", help="Services + registry + ingester + simulator, all at once.")(demo)


@app.command("ingest")
def ingest(
    leave: bool = typer.Option(
        False, "--leave",
        help="Scale down: take this member out of its share group for good. It unsubscribes, "
             "stores what its session still holds, drops the session and exits 0.",
    ),
) -> None:
    """Run the ingester: MQTT -> validate -> InfluxDB, acking only after durable writes."""
    from ingest.runner import IngestFatal
    from ingest.service import run_ingester
    from streetwatch.logs import configure_logging
    from streetwatch.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        run_ingester(settings, leave=leave)
    except IngestFatal as exc:  # already logged as `ingest.fatal`; the code tells a supervisor
        raise typer.Exit(exc.exit_code) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
