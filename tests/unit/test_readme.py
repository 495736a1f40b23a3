"""The README documents what a newcomer needs: the two commands and every setting."""

from __future__ import annotations

from harbour.settings import REPO_ROOT, HarbourSettings

README = (REPO_ROOT / "README.md").read_text()


def test_the_readme_quick_start_has_the_two_commands_and_ci_runs_the_test_one():
    assert "make run" in README and "make test" in README
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_every_setting_is_documented_in_the_readme():
    for name in HarbourSettings.model_fields:
        variable = f"HARBOUR_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} is not documented in README.md"
