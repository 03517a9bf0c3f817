"""Before a release: the tag names the version that every file declares; print the release notes.

    python scripts/release_check.py v0.1.0            # exits 1 unless the versions all say 0.1.0
    python scripts/release_check.py v0.1.0 --notes    # also prints CHANGELOG.md's section for 0.1.0

Run by .github/workflows/release.yml on a version tag before anything is built or published: pyproject.toml,
manifest.json (the MCP Bundle) and server.json (the MCP registry entry, and the PyPI package it points to) must
all carry the tag's version, and CHANGELOG.md must have a dated section for it (`## 0.1.0 (2026-12-03)`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def declared_versions(root: Path = ROOT) -> dict[str, str]:
    """Every place that names the release's version, and what it says."""
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    server = json.loads((root / "server.json").read_text(encoding="utf-8"))
    found = {
        "pyproject.toml": project["version"],
        "manifest.json": manifest["version"],
        "server.json": server["version"],
    }
    for package in server["packages"]:
        found[f"server.json packages[{package['identifier']}]"] = package["version"]
    return found


def release_notes(version: str, root: Path = ROOT) -> str | None:
    """CHANGELOG.md's section for `version` (its heading starts `## <version>`), without the heading."""
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(version)}\b.*?\n(.*?)(?=^## |\Z)", changelog, flags=re.DOTALL | re.MULTILINE)
    return match[1].strip() if match else None


def problems(tag: str, root: Path = ROOT) -> list[str]:
    if not re.fullmatch(r"v\d+\.\d+\.\d+((a|b|rc)\d+)?", tag):
        return [f"the tag {tag!r} is not a version tag such as v0.1.0"]
    version = tag.removeprefix("v")
    found = [
        f"{where} says {declared!r}, the tag {tag!r}"
        for where, declared in declared_versions(root).items()
        if declared != version
    ]
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    heading = re.search(rf"^## {re.escape(version)}\b.*$", changelog, flags=re.MULTILINE)
    if heading is None:
        found.append(f"CHANGELOG.md has no section '## {version}'")
    elif "unreleased" in heading[0].lower():
        found.append(f"CHANGELOG.md's heading {heading[0]!r} still says unreleased: give it the release date")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tag", help="the version tag, e.g. v0.1.0")
    parser.add_argument("--notes", action="store_true", help="print CHANGELOG.md's section for the version")
    args = parser.parse_args(argv)
    found = problems(args.tag)
    for problem in found:
        print(f"release_check: {problem}", file=sys.stderr)
    if found:
        return 1
    if args.notes:
        print(release_notes(args.tag.removeprefix("v")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
