"""`harbour docs [--check]`: the generated sections of the integrator's guide (docs/integrators.md)."""

from __future__ import annotations

import typer

from harbour_tools import integrators
from harbour_tools.cli import app, console, fail


@app.command("docs")
def docs(
    check: bool = typer.Option(False, "--check", help="fail if the committed guide differs from the code"),
) -> None:
    """Regenerate the role matrix, the audience ids and the organisation ids in docs/integrators.md."""
    if check:
        if integrators.stale():
            fail("docs/integrators.md differs from the access tables and the audience list: run `harbour docs`")
        console.print("docs/integrators.md: up to date")
        return
    changed = integrators.write()
    console.print("docs/integrators.md: " + ("regenerated" if changed else "already up to date"))
