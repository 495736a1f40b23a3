"""``harbour demo``: walk one realistic case through a running platform and show what each agency received.

Against the services ``harbour up`` started (their default URLs, shifted by ``HARBOUR_PORT_OFFSET``), or any
other platform given by ``--base-url-<service>``. The case itself is :mod:`harbour_tools.demo`.
"""

from __future__ import annotations

import asyncio

import typer

from harbour.settings import get_settings
from harbour_tools.cli import app, console


@app.command("demo")
def demo(
    intake: str | None = typer.Option(None, "--base-url-intake", help="default http://127.0.0.1:8101"),
    legal: str | None = typer.Option(None, "--base-url-legal", help="default http://127.0.0.1:8102"),
    tracks: str | None = typer.Option(None, "--base-url-tracks", help="default http://127.0.0.1:8103"),
    housing: str | None = typer.Option(None, "--base-url-housing", help="default http://127.0.0.1:8104"),
    feeds: str | None = typer.Option(None, "--base-url-feeds", help="default http://127.0.0.1:8105"),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, help="seconds to wait for one service to learn another's facts"
    ),
) -> None:
    """Walk one labour-exploitation case through every service over HTTP; print each agency's milestones."""
    # Imported here: the demo pulls in the milestone machinery, which no other command needs at start-up.
    from harbour_tools import demo as walkthrough

    settings = get_settings()
    urls = walkthrough.default_urls(settings)
    given = {"intake": intake, "legal": legal, "tracks": tracks, "housing": housing, "feeds": feeds}
    urls.update({name: url for name, url in given.items() if url})
    report = asyncio.run(walkthrough.run(urls, console=console, settings=settings, timeout=timeout))
    # A failed walk is a failed command (scripts and CI can tell), after the report said what went wrong.
    raise typer.Exit(0 if report.ok else 1)
