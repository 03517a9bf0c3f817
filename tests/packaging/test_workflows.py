"""The GitHub workflows a maintainer runs: CI (.ci/run) and the release (PyPI by trusted publishing, then the
GitHub release with the MCP Bundle and the wheel). They cannot run here; this reads them as GitHub would (YAML)
and checks what they rely on: the scripts they call exist, the tag check passes for this version, the publishing
job alone may mint an OIDC token, and only the release job may write to the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def workflow(name: str) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def run_lines(document: dict[str, Any]) -> str:
    return "\n".join(step["run"] for step in steps(document) if "run" in step)


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_each_step_is_well_formed_and_its_files_exist(name: str) -> None:
    document = workflow(name)
    assert document["permissions"] == {"contents": "read"}  # the default; jobs widen it only where needed
    for job in document["jobs"].values():
        assert job["runs-on"] == "ubuntu-latest"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+|release/v\d+)", step["uses"]), step["uses"]
    referenced = re.findall(r"(?:scripts/[\w.]+\.py|\.ci/run)", run_lines(document))
    assert referenced
    for path in referenced:
        assert (ROOT / path).is_file(), f"{name} runs {path}, which does not exist"


def test_ci_runs_ci_run_with_the_python_and_node_it_needs() -> None:
    document = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(document["on"])
    assert "bash .ci/run" in run_lines(document)
    versions = {step["with"].get("python-version") or step["with"].get("node-version")
                for step in steps(document) if "with" in step}  # fmt: skip
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert requires == ">=3.11" and "3.11" in versions and "20" in versions


def test_the_release_runs_on_version_tags_and_publishes_what_it_tested() -> None:
    document = workflow("release.yml")
    assert document["on"] == {"push": {"tags": ["v*"]}}
    build, pypi, release = (document["jobs"][name] for name in ("build", "pypi", "github-release"))
    build_runs = [step.get("run", "") for step in build["steps"]]
    order = ["release_check.py", "python -m build", "-m pytest", "wheel_install.py", "bundle.py", "bundle_run.py"]
    positions = [next(i for i, run in enumerate(build_runs) if part in run) for part in order]
    assert positions == sorted(positions), build_runs
    assert "--wheel dist/mcp_lmstudio-*.whl" in "\n".join(build_runs)  # the wheel that will be published
    # Trusted publishing: only the PyPI job can mint an OIDC token, from the `pypi` environment.
    assert pypi["needs"] == "build" and pypi["permissions"] == {"id-token": "write"}
    assert pypi["environment"]["name"] == "pypi"
    assert any(step.get("uses", "").startswith("pypa/gh-action-pypi-publish@") for step in pypi["steps"])
    assert "id-token" not in str(build.get("permissions")) and "id-token" not in str(release["permissions"])
    # The GitHub release comes after PyPI, with the bundle and the wheel.
    assert release["needs"] == "pypi" and release["permissions"] == {"contents": "write"}
    create = " ".join(step.get("run", "") for step in release["steps"])
    assert "gh release create" in create and "dist/*.mcpb" in create and "dist/*.whl" in create


def test_the_release_filters_what_goes_to_pypi() -> None:
    pypi = workflow("release.yml")["jobs"]["pypi"]
    moves = " ".join(step.get("run", "") for step in pypi["steps"])
    assert shlex.split(moves)[-3:] == ["dist/*.tar.gz", "dist/*.whl", "pypi/"]
    (publish,) = [step for step in pypi["steps"] if "uses" in step and "pypi-publish" in step["uses"]]
    assert publish["with"]["packages-dir"] == "pypi/"  # not the .mcpb or the notes


def release_check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "release_check.py"), *args],
        capture_output=True, text=True, check=False, timeout=60, cwd=cwd,
    )  # fmt: skip


def test_the_tag_check_names_every_file_that_disagrees() -> None:
    completed = release_check("v99.0.0")
    assert completed.returncode == 1
    for where in ("pyproject.toml", "manifest.json", "server.json", "CHANGELOG.md"):
        assert where in completed.stderr
    assert release_check("latest").returncode == 1


def test_the_tag_check_passes_for_this_version_once_the_changelog_is_dated() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import release_check as module
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    leftovers = module.problems(f"v{VERSION}")
    assert all("CHANGELOG.md" in problem and "unreleased" in problem for problem in leftovers), leftovers
    assert {where: version for where, version in module.declared_versions().items() if version != VERSION} == {}
    assert module.release_notes(VERSION)
