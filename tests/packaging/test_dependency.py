"""Every install can send an LM Studio API token: the lmstudio requirement admits 1.6.0b1 (a pre-release) by
naming it, so pip and uv pick it without --pre; the environment running the tests has what the package declares.

scripts/wheel_install.py (CI) installs the built wheel with pip, uv pip and uvx and sends a token from each;
scripts/bundle_run.py runs the MCP Bundle through `uv run` with one.
"""

from __future__ import annotations

import json
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from mcp_lmstudio.models.api_token import sdk_supports_api_tokens

ROOT = Path(__file__).resolve().parent.parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def lmstudio_requirement() -> Requirement:
    (found,) = [Requirement(line) for line in PROJECT["dependencies"] if Requirement(line).name == "lmstudio"]
    return found


def test_the_requirement_names_the_first_release_that_sends_tokens() -> None:
    specifier = lmstudio_requirement().specifier
    # What pip and uv do: a specifier that names a pre-release admits pre-releases without --pre.
    assert specifier.prereleases
    assert specifier.contains("1.6.0b1") and specifier.contains("1.6.0") and specifier.contains("1.7.2")
    assert not specifier.contains("1.5.0") and not specifier.contains("2.0.0")


def test_the_installed_sdk_is_what_the_package_declares_and_sends_tokens() -> None:
    installed = version("lmstudio")
    assert lmstudio_requirement().specifier.contains(installed), (
        f"this environment has lmstudio {installed}; the package needs {lmstudio_requirement()}: reinstall it "
        '(pip install -e ".[test]")'
    )
    assert sdk_supports_api_tokens()
    assert Version(installed) >= Version("1.6.0b1")


def test_the_token_settings_no_longer_ask_for_an_upgrade() -> None:
    server = json.loads((ROOT / "server.json").read_text(encoding="utf-8"))
    (token,) = [var for package in server["packages"] for var in package["environmentVariables"]
                if var["name"] == "LMSTUDIO_API_TOKEN"]  # fmt: skip
    assert token["isSecret"] and "1.6" not in token["description"]
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["user_config"]["api_token"]["sensitive"]
    assert manifest["server"]["mcp_config"]["env"]["LMSTUDIO_API_TOKEN"] == "${user_config.api_token}"
