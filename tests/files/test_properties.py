"""Random paths built from `..`, `.`, names, symlinks in and out, and wildcards never reach outside, and every
refusal for a path outside reads the same."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_lmstudio.errors import InvalidInputError
from mcp_lmstudio.files import AllowedDirectories, FileAccessError, read_files

from .conftest import SECRET

COMPONENTS = [
    "..",
    ".",
    "src",
    "sub",
    "README.md",
    "app",
    "outside",
    "secret",
    "missing",
    "out",
    "in",
    "outdir",
    "*",
    "**",
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tree")
    app, outside = base / "app", base / "outside"
    for directory in (app / "src", app / "sub", outside / "dir"):
        directory.mkdir(parents=True)
    (app / "README.md").write_text("readme")
    (app / "src" / "main.py").write_text("main")
    (outside / "secret").write_text(SECRET)
    (outside / "dir" / "secret").write_text(SECRET)
    (app / "out").symlink_to(outside / "secret")
    (app / "in").symlink_to(app / "src")
    (app / "sub" / "outdir").symlink_to(outside / "dir")
    (app / "sub" / "up").symlink_to("../..")
    return app, outside


entries = st.builds(
    lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
    st.booleans(),
    st.lists(st.sampled_from(COMPONENTS), min_size=1, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(entry=entries)
def test_no_entry_reaches_outside(tree: tuple[Path, Path], entry: str) -> None:
    app, outside = tree
    allowed = AllowedDirectories([str(app)])
    if entry.startswith("/"):
        entry = str(app.parent) + entry  # absolute paths around the tree, inside and out
    try:
        real, root = allowed.resolve(entry)
    except FileAccessError as exc:
        shown = str(exc).replace(repr(entry), "<entry>")
        assert shown == str(FileAccessError("<x>", allowed.listing)).replace(repr("<x>"), "<entry>")
    else:
        assert root == app and os.path.realpath(real).startswith(str(app))
    try:
        bundle = read_files([entry], allowed)
    except InvalidInputError as exc:
        assert SECRET not in str(exc)
    else:
        assert SECRET not in repr(bundle) and SECRET not in bundle.as_prompt_text()
        assert all(not record.path.startswith("/") for record in bundle.records)
