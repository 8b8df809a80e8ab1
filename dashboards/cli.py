"""`streetwatch dashboards export DIR` and `streetwatch dashboards push` (to come)."""

from __future__ import annotations

import typer

dashboards_app = typer.Typer(help="Grafana dashboards: export files, push to Grafana.",
                             no_args_is_help=True)


@dashboards_app.callback()
def dashboards_group() -> None:
    """Grafana dashboards as code."""
