"""The committed AsyncAPI documents validate with the AsyncAPI CLI itself (not our reading of the spec).

`make test` installs the pinned CLI into var/npm first (`make asyncapi-cli`, harbour_tools/install_asyncapi_cli.sh);
a missing CLI fails here, it never skips. The CLI's usage metrics are off through a config file of the install's own,
so a run sends nothing anywhere. The committed documents are validated in one Node.js process by the CLI's own
validation service (harbour_tools/asyncapi_cli/validate_many.js: one start instead of seven, about 5 s of CPU instead
of 18); the CLI binary itself runs on a broken document, and so does the one-process validation, and both refuse it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harbour.settings import REPO_ROOT
from harbour_tools.contracts import SCHEMAS_DIR

pytestmark = pytest.mark.integration

NPM_PREFIX = REPO_ROOT / "var" / "npm"
CLI = NPM_PREFIX / "node_modules" / ".bin" / "asyncapi"
VALIDATE_MANY = REPO_ROOT / "harbour_tools" / "asyncapi_cli" / "validate_many.js"
DOCUMENTS = sorted(p.name for p in (SCHEMAS_DIR / "asyncapi").glob("*.json"))


def cli_env() -> dict[str, str]:
    """The environment of a CLI run (usage metrics off); fails when the CLI is not installed."""
    assert CLI.exists(), f"{CLI} is missing: run `make asyncapi-cli` (make test does)"
    return {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(NPM_PREFIX / "asyncapi-analytics.json")}


def validate(path: os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    env = cli_env()
    # --fail-severity=warn: a warning fails too; the one "info" left is that AsyncAPI 3.1 exists.
    return subprocess.run([str(CLI), "validate", str(path), "--fail-severity=warn", "--diagnostics-format=text"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip


def test_there_is_an_asyncapi_document_for_every_service():
    assert DOCUMENTS == ["feeds.json", "housing.json", "intake.json", "legal.json", "signals.json", "statistics.json",
                         "tracks.json"]  # fmt: skip


def validate_many(paths: list[Path]) -> dict[str, dict]:
    """Each document's verdict from the CLI's validation service, all in one Node.js process (same severity rule)."""
    env = cli_env()
    done = subprocess.run(["node", str(VALIDATE_MANY), str(NPM_PREFIX), "warn", *map(str, paths)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["path"] for line in lines] == list(map(str, paths)), done.stdout + done.stderr
    return {line["path"]: line for line in lines}


@pytest.fixture(scope="module")
def validated() -> dict[str, dict]:
    verdicts = validate_many([SCHEMAS_DIR / "asyncapi" / name for name in DOCUMENTS])
    return {Path(path).name: verdict for path, verdict in verdicts.items()}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_committed_asyncapi_document_is_valid_for_the_asyncapi_cli(name, validated):
    verdict = validated[name]
    assert verdict["error"] is None and verdict["status"] == "valid", verdict


def test_the_asyncapi_cli_refuses_a_document_whose_operation_names_a_message_that_does_not_exist(tmp_path):
    # The check can fail: a dangling reference (what a hand edit of a generated document leaves) is an error.
    text = (SCHEMAS_DIR / "asyncapi" / "intake.json").read_text()
    broken = tmp_path / "intake.json"
    broken.write_text(text.replace('/messages/CaseOpened.v1"', '/messages/CaseOpened.v9"', 1))
    assert broken.read_text() != text
    result = validate(broken)
    assert result.returncode != 0
    assert "CaseOpened.v9" in result.stdout + result.stderr
    # The one-process validation the committed documents go through refuses it too, for the same reason.
    # The committed document beside it stays valid: the verdicts are each document's own.
    verdicts = validate_many([broken, SCHEMAS_DIR / "asyncapi" / "intake.json"])
    assert verdicts[str(broken)]["status"] == "invalid" and "CaseOpened.v9" in verdicts[str(broken)]["diagnostics"]
    assert verdicts[str(SCHEMAS_DIR / "asyncapi" / "intake.json")]["status"] == "valid"
