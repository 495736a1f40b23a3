"""The ``harbour`` command line: one typer ``app`` that command modules register themselves on.

A command module (``harbour_tools/cli/<name>.py``) does ``from harbour_tools.cli import app`` and adds its commands with
``@app.command()`` or ``app.add_typer(...)``; ``harbour_tools/cli/main.py`` imports it (one line) so it is loaded.
The app lives here rather than in ``main.py`` so that a command module can be imported on its own (in a test)
without an import cycle through ``main``.
"""

from __future__ import annotations

import errno
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console

from harbour.errors import HarbourError
from harbour_tools.infra import InfraError

# Messages for people go to stderr, so that stdout stays clean for what scripts capture
# (``TOKEN=$(harbour token ...)``).
console = Console()
err_console = Console(stderr=True)


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Print a one-line error for a person (no traceback) and exit."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


class HarbourApp(typer.Typer):
    """A Typer app that turns the failures a user can fix into a clear message instead of a traceback.

    Anything else (a bug) keeps typer's traceback, which is what a developer needs.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (InfraError, HarbourError) as exc:
            _exit_with(str(exc))
        except ModuleNotFoundError as exc:
            _exit_with(f"a dependency is missing: {exc.name} is not installed (run `make venv`)")
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _exit_with(f"a port is already taken: {exc.strerror} ({exc})")
            raise


def _exit_with(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(1)


app = HarbourApp(
    name="harbour",
    help="Harbour: case coordination for victims of human trafficking in Belgium.",
    no_args_is_help=True,
    add_completion=False,
)
