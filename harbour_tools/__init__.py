"""Harbour's tooling: the ``harbour`` command line, the infrastructure starter, the demo walkthrough, deploy file
generation, contract export/check and the ops commands (replay, dead letters, rebuild).

It imports the runtime (``harbour``), the schemas and the services; nothing in ``harbour/`` imports it back (the
import contracts in pyproject.toml, checked by ``lint-imports`` in ``make test``)."""
