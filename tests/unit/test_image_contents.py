"""What the container image holds, checked without a Docker engine: the Dockerfile's sources, and the image's
``harbour`` command run from the same tree the Dockerfile installs (runtime, tooling without the demo, schemas,
milestone machinery, services)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from harbour.http.docs import ASSETS
from harbour.settings import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"


def copied_sources() -> list[str]:
    return re.findall(r"^COPY (?!--from)(\S+) \./\S*$", DOCKERFILE.read_text(), flags=re.M)


def removed_sources() -> list[str]:
    removed = re.findall(r"^RUN rm (.+)$", DOCKERFILE.read_text(), flags=re.M)
    return [path for line in removed for path in line.split()]


def test_the_image_installs_the_runtime_the_tooling_the_schemas_the_milestones_and_the_services_and_nothing_else():
    # milestones/: the services that publish milestones import it (their app.py declares its pieces). docs_assets/:
    # the npm lock file of the documentation pages' assets, installed in the build stage (never pip-installed).
    assert copied_sources() == ["harbour", "harbour_tools", "schemas", "milestones", "services", "docs_assets"]


def test_the_image_keeps_every_documentation_asset_the_services_serve_where_its_setting_points():
    dockerfile = DOCKERFILE.read_text()
    assert "RUN sh harbour_tools/install_docs_assets.sh" in dockerfile
    target = re.search(r"^ENV HARBOUR_DOCS_ASSETS_DIR=(\S+)$", dockerfile, flags=re.M)
    assert target is not None
    # Each COPY --from=build of the final stage (continuation lines joined): its sources and where they land.
    copies = re.findall(r"^COPY --from=build (.+)$", dockerfile.replace("\\\n", " "), flags=re.M)
    kept = set()
    for copy in copies:
        *sources, destination = copy.split()
        for source in sources:
            if source.startswith("$ASSETS/"):
                relative = source.removeprefix("$ASSETS/")
                assert destination == f"{target.group(1)}/{relative.rpartition('/')[0]}/"
                kept.add(relative)
    assert {relative for relative, _ in ASSETS.values()} <= kept


def test_the_image_removes_the_demo_and_its_command_before_installing_and_both_files_exist():
    removed = removed_sources()
    assert removed == ["harbour_tools/demo.py", "harbour_tools/cli/demo.py"]
    # A renamed demo would be silently shipped: the paths removed must be the files the repository has.
    assert all((REPO_ROOT / path).is_file() for path in removed)


def test_the_images_command_line_keeps_the_ops_commands_and_has_no_demo(tmp_path: Path):
    for source in copied_sources():
        # What .dockerignore keeps out of the build context stays out here too (a local npm tree is 160 MB).
        ignored = shutil.ignore_patterns("__pycache__", "node_modules")
        shutil.copytree(REPO_ROOT / source, tmp_path / source, ignore=ignored)
    for path in removed_sources():
        (tmp_path / path).unlink()
    # -S: the editable install's finder would find the repository's demo; the tree above plus the installed
    # dependencies is what the image's virtualenv holds.
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import harbour_tools.cli.main as m; m.app()", "--help"],
        cwd=tmp_path, env={"PYTHONPATH": f"{tmp_path}:{sysconfig.get_paths()['purelib']}", "COLUMNS": "200"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = set(re.findall(r"^│ (\w+) ", result.stdout, flags=re.M))
    assert {"replay", "dlq", "rebuild", "keys", "erase"} <= commands
    assert "demo" not in commands
