"""`harbour schemas export|check`: the published contracts, written out and guarded against breaking changes."""

from __future__ import annotations

import typer

from harbour_tools import contracts
from harbour_tools.cli import app, console, fail

schemas_app = typer.Typer(help="Published contracts: JSON Schema, AsyncAPI, the topic lock.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")


@schemas_app.command("export")
def export() -> None:
    """Write schemas/jsonschema, schemas/asyncapi and schemas/contracts.lock.json from the code."""
    written = contracts.export()
    console.print(f"wrote {len(written)} contract files under schemas/")


@schemas_app.command("check")
def check() -> None:
    """Fail on a breaking change against the committed contracts, or on contracts not re-exported."""
    breaks = contracts.check()
    for item in breaks:
        console.print(f"[red]breaking:[/] {item}")
    if breaks:
        fail(f"{len(breaks)} breaking change(s): add a new schema version (with an upcaster) instead")
    stale = contracts.stale()
    if stale:
        fail(f"contracts changed compatibly but were not re-exported (run `harbour schemas export`): {stale[:5]}")
    console.print("contracts: no breaking change, exports up to date")
