"""``harbour token``: a development JWT from the key pair under ``var/keys`` (printed alone on stdout)."""

from __future__ import annotations

from datetime import timedelta

import typer

from harbour.auth import Role, issue_token
from harbour.settings import get_settings
from harbour_tools.cli import app, fail


@app.command("token")
def token(
    org: str = typer.Option(..., "--org", help="organisation id, e.g. centre-payoke, prosecution-antwerp"),
    role: str = typer.Option(..., "--role", help=f"one of: {', '.join(r.value for r in Role)}"),
    user: str = typer.Option("dev-user", "--user", help="user id carried in the token's subject"),
    ttl_minutes: int = typer.Option(480, "--ttl-minutes", min=1, help="lifetime of the token in minutes"),
) -> None:
    """Print a signed development token (alone on stdout, for TOKEN=$(harbour token ...))."""
    try:
        value = issue_token(org, role, user, settings=get_settings(), ttl=timedelta(minutes=ttl_minutes))
    except ValueError as exc:
        fail(str(exc))
    # Plain echo, not rich: rich would wrap the long token at the terminal width and break copy/paste.
    typer.echo(value)
