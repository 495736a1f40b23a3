"""``harbour deploy topics|acls|postgres|dashboards|alerts|all``: write the generated files under ``deploy/``.

``--check`` writes nothing and fails when a committed file differs from what the code generates (CI and the
test suite use it), so that a new topic, consumer or audience cannot reach production without its ACLs.
"""

from __future__ import annotations

from pathlib import Path

import typer

from harbour_tools import deploy
from harbour_tools.cli import app, console, fail

deploy_app = typer.Typer(help="Generate the production artefacts under deploy/ from code.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")

_CHECK = typer.Option(False, "--check", help="write nothing; fail if a committed file is out of date")


def _run(group: str | None, check: bool) -> None:
    files = deploy.artefacts()
    if group is not None:
        wanted = {Path(p) for p in deploy.GROUPS[group]}
        files = {path: text for path, text in files.items() if path in wanted}
    if check:
        stale = deploy.stale(files)
        if stale:
            fail("out of date (run `harbour deploy all`): " + ", ".join(str(p) for p in stale))
        console.print(f"{len(files)} generated file(s) up to date")
        return
    changed = deploy.write(files)
    for path in changed:
        console.print(f"wrote {path}")
    if not changed:
        console.print("nothing changed")


@deploy_app.command("topics")
def topics(check: bool = _CHECK) -> None:
    """deploy/kafka/topics.txt: every topic of the topic table, for the topic-init job."""
    _run("topics", check)


@deploy_app.command("acls")
def acls(check: bool = _CHECK) -> None:
    """deploy/kafka/acls.txt (principals and grants) and the env template naming their passwords."""
    _run("acls", check)


@deploy_app.command("postgres")
def postgres(check: bool = _CHECK) -> None:
    """The PostgreSQL init hook: a database and a role per service."""
    _run("postgres", check)


@deploy_app.command("dashboards")
def dashboards(check: bool = _CHECK) -> None:
    """The Grafana dashboards under deploy/grafana/dashboards/."""
    _run("dashboards", check)


@deploy_app.command("alerts")
def alerts(check: bool = _CHECK) -> None:
    """The Prometheus alert rules, deploy/prometheus/alerts.yml."""
    _run("alerts", check)


@deploy_app.command("all")
def all_(check: bool = _CHECK) -> None:
    """Every generated file."""
    _run(None, check)
