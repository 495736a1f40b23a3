"""The committed AsyncAPI documents validate with the AsyncAPI CLI itself (not our reading of the spec).

`make test` installs the pinned CLI into var/npm first (`make asyncapi-cli`, harbour_tools/install_asyncapi_cli.sh);
a missing CLI fails here, it never skips. The CLI's usage metrics are off through a config file of the install's own,
so a run sends nothing anywhere."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from harbour.settings import REPO_ROOT
from harbour_tools.contracts import SCHEMAS_DIR

pytestmark = pytest.mark.integration

NPM_PREFIX = REPO_ROOT / "var" / "npm"
CLI = NPM_PREFIX / "node_modules" / ".bin" / "asyncapi"
DOCUMENTS = sorted(p.name for p in (SCHEMAS_DIR / "asyncapi").glob("*.json"))


def validate(path: os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    assert CLI.exists(), f"{CLI} is missing: run `make asyncapi-cli` (make test does)"
    env = {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(NPM_PREFIX / "asyncapi-analytics.json")}
    # --fail-severity=warn: a warning fails too; the one "info" left is that AsyncAPI 3.1 exists.
    return subprocess.run([str(CLI), "validate", str(path), "--fail-severity=warn", "--diagnostics-format=text"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip


def test_there_is_an_asyncapi_document_for_every_service():
    assert DOCUMENTS == ["feeds.json", "housing.json", "intake.json", "legal.json", "signals.json", "statistics.json",
                         "tracks.json"]  # fmt: skip


@pytest.fixture(scope="module")
def validated() -> Iterator[dict[str, Future[subprocess.CompletedProcess[str]]]]:
    # Two CLI processes at a time (the machine has two cores): each takes 6 to 20 s, mostly on one core.
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield {name: pool.submit(validate, SCHEMAS_DIR / "asyncapi" / name) for name in DOCUMENTS}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_committed_asyncapi_document_is_valid_for_the_asyncapi_cli(name, validated):
    result = validated[name].result()
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_asyncapi_cli_refuses_a_document_whose_operation_names_a_message_that_does_not_exist(tmp_path):
    # The check can fail: a dangling reference (what a hand edit of a generated document leaves) is an error.
    text = (SCHEMAS_DIR / "asyncapi" / "intake.json").read_text()
    broken = tmp_path / "intake.json"
    broken.write_text(text.replace('/messages/CaseOpened.v1"', '/messages/CaseOpened.v9"', 1))
    assert broken.read_text() != text
    result = validate(broken)
    assert result.returncode != 0
    assert "CaseOpened.v9" in result.stdout + result.stderr
