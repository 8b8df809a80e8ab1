"""DESIGN s.2 as a test: dependencies point inward, and rule logic imports no I/O library.

Reads the import statements of every module (ast, nothing is imported or run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("ingest", "rules", "api", "dashboards", "simulators")
# Modules of rules/ that are adapters around the core (DESIGN: "the runners may").
RULE_ADAPTERS = {"runner", "service", "sources", "sinks", "webhooks", "stored_replay", "cli",
                 "scenario_check", "drain_report_sources"}
IO_LIBRARIES = ("paho", "httpx", "sqlalchemy", "alembic", "influxdb_client", "psycopg", "socket",
                "requests", "urllib.request", "subprocess", "typer", "streetwatch.influx",
                "streetwatch.registry", "streetwatch.alerts.store", "streetwatch.services")


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _allowed(component: str, name: str) -> bool:
    """The API may use the rules' pure core (lifecycle, lighting reports, schedule): the issue
    that asked for the API says so; never the ingester, nor a runner or adapter of rules/."""
    top = name.split(".")[0]
    if top not in COMPONENTS or top == component:
        return True
    if component == "api" and top == "rules":
        return name.count(".") == 1 and name.split(".")[1] not in RULE_ADAPTERS
    return False


@pytest.mark.parametrize("component", COMPONENTS)
def test_components_import_only_the_kernel_and_themselves(component):
    for path in modules(component):
        sideways = {name for name in imports_of(path) if not _allowed(component, name)}
        assert not sideways, f"{path.relative_to(ROOT)} imports {sorted(sideways)}"


def test_the_api_may_not_import_a_rule_runner():
    assert _allowed("api", "rules.reports") and _allowed("api", "rules.lifecycle")
    assert not _allowed("api", "rules.runner") and not _allowed("api", "rules")
    assert not _allowed("api", "ingest.service") and not _allowed("rules", "api.app")


def test_the_kernel_imports_components_only_in_the_cli():
    allowed = {ROOT / "streetwatch" / "cli.py", ROOT / "streetwatch" / "demo.py"}
    for path in modules("streetwatch"):
        outward = {name for name in imports_of(path) if name.split(".")[0] in COMPONENTS}
        assert not outward or path in allowed, f"{path.relative_to(ROOT)} imports {outward}"


def test_rule_logic_imports_no_io_library():
    core = [p for p in modules("rules") if p.stem not in RULE_ADAPTERS]
    assert {p.stem for p in core} >= {"lamps", "engine", "lifecycle", "lighting", "replay"}
    for path in core:
        io = {name for name in imports_of(path)
              if any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES)}
        assert not io, f"{path.relative_to(ROOT)} is rule logic but imports {sorted(io)}"
