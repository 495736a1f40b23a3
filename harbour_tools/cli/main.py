"""Entry point of the ``harbour`` command (``harbour = "harbour_tools.cli.main:app"`` in pyproject.toml).

Each import below loads one command module, which registers its commands on ``app`` when imported.
Adding a command module is adding one line here.

``harbour demo`` is registered only where the demo is installed: the container image ships without it (see the
Dockerfile), and its ``harbour`` command keeps the ops commands the runbook runs in a container (replay, dlq,
rebuild, keys, erase).
"""

from __future__ import annotations

from importlib.util import find_spec

from harbour_tools.cli import app
from harbour_tools.cli import deploy as _deploy  # noqa: F401  harbour deploy topics|acls|postgres|dashboards|all
from harbour_tools.cli import docs as _docs  # noqa: F401  harbour docs [--check]
from harbour_tools.cli import erase as _erase  # noqa: F401  harbour erase
from harbour_tools.cli import infra as _infra  # noqa: F401  harbour infra up|down|status
from harbour_tools.cli import keys as _keys  # noqa: F401  harbour keys new|status|rotate|purge
from harbour_tools.cli import ops as _ops  # noqa: F401  harbour replay, dlq list|replay, rebuild
from harbour_tools.cli import schemas as _schemas  # noqa: F401  harbour schemas export|check
from harbour_tools.cli import stats as _stats  # noqa: F401  harbour stats release
from harbour_tools.cli import tokens as _tokens  # noqa: F401  harbour token
from harbour_tools.cli import up as _up  # noqa: F401  harbour up

if find_spec("harbour_tools.demo") is not None:
    from harbour_tools.cli import demo as _demo  # noqa: F401  harbour demo

__all__ = ["app"]

if __name__ == "__main__":
    app()
