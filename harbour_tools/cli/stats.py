"""``harbour stats release --period 2026``: make a release of the statistics service and save its tables as CSV.

It asks the running statistics service (``--url``, default its port on this machine) as a Myria analyst, with a
development token unless ``--token`` gives one, under a fresh ``Idempotency-Key`` (so a retry of this command
with ``--key`` replays the same release instead of making another version). Then it downloads each table's CSV
into ``--out``, with a progress bar: one step per table.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from harbour.auth import issue_token
from harbour_tools.cli import app, console, fail

stats_app = typer.Typer(help="The statistics service's releases.", no_args_is_help=True)
app.add_typer(stats_app, name="stats")


@stats_app.command("release")
def release(
    period: int = typer.Option(..., help="the year of admission to count"),
    public: bool = typer.Option(False, help="whether anyone may read it (default: the national rapporteur only)"),
    k: int = typer.Option(11, help="the smallest count published (at least 11)"),
    url: str = typer.Option("http://127.0.0.1:8106", help="the statistics service"),
    out: Path = typer.Option(Path("var/statistics"), help="where the tables' CSV files are written"),
    token: str | None = typer.Option(None, help="a Myria analyst's token (default: a development one)"),
    key: str | None = typer.Option(None, help="the Idempotency-Key (default: a new one)"),
) -> None:
    bearer = token or issue_token("myria", "analyst", "cli.stats")
    headers = {"Authorization": f"Bearer {bearer}"}
    body = {"period": period, "public": public, "k": k}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        try:
            made = client.post("/releases", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})
        except httpx.HTTPError as error:
            fail(f"the statistics service at {url} does not answer ({type(error).__name__})")
        if made.status_code != 201:
            fail(f"the release was refused ({made.status_code}): {made.json().get('detail', made.text)}")
        released = made.json()
        folder = out / released["release_id"]
        folder.mkdir(parents=True, exist_ok=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
            task = bar.add_task(f"tables of {released['release_id']}", total=len(released["tables"]))
            for table in released["tables"]:
                answer = client.get(f"/releases/{released['release_id']}/tables/{table['name']}.csv")
                answer.raise_for_status()
                (folder / f"{table['name']}.csv").write_text(answer.text)
                bar.advance(task)
    cases = "fewer than k" if released["cases"] is None else released["cases"]
    console.print(f"released {released['release_id']} ({cases} cases, k = {released['k']}); tables in {folder}")
