"""``harbour infra up|down|status``: PostgreSQL and the Kafka broker for local runs and tests."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from harbour.settings import get_settings
from harbour_tools import infra
from harbour_tools.cli import app, console

infra_app = typer.Typer(
    help="PostgreSQL and the Kafka broker: find them, or start embedded ones.", no_args_is_help=True
)
app.add_typer(infra_app, name="infra")

_SOURCE_LABEL = {
    "configured": "configured (HARBOUR_*)",
    "machine": "the machine's server",
    "embedded": "[bold]embedded[/], started by harbour",
    "external": "found running, not ours",
    "none": "[red]not running[/]",
}


def _show(status: infra.InfraStatus, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(status.to_dict(), indent=2, default=str))
        return
    table = Table(title="Harbour infrastructure", title_justify="left")
    # URLs and paths are folded, never cut: a truncated socket path is useless to copy.
    for column in ("component", "listens on", "who runs it", "pid", "log / detail"):
        table.add_column(column, overflow="fold")
    for endpoint in (status.postgres, status.kafka):
        table.add_row(
            endpoint.name,
            endpoint.url or "-",
            _SOURCE_LABEL[endpoint.source]
            + ("" if endpoint.running or endpoint.source == "none" else " [red](down)[/]"),
            str(endpoint.pid or "-"),
            endpoint.log or endpoint.detail or "-",
        )
    console.print(table)
    for line in status.stopped:
        console.print(f"stopped {line}")


@infra_app.command("up")
def up(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Find or start PostgreSQL and Kafka; what harbour starts keeps running until `harbour infra down`."""
    _show(infra.infra_up(get_settings()), as_json=as_json)


@infra_app.command("down")
def down(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Stop what `harbour infra up` started; the machine's PostgreSQL and foreign brokers are left alone."""
    status = infra.infra_down(get_settings())
    if not status.stopped and not as_json:
        console.print("nothing of ours was running")
    _show(status, as_json=as_json)


@infra_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Where PostgreSQL and Kafka listen now, and which of them harbour started. Starts nothing."""
    _show(infra.infra_status(get_settings()), as_json=as_json)
