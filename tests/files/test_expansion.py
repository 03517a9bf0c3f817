"""Directories and globs: hidden files, .git and .gitignored files are skipped (but read when named), nested
.gitignore files apply relative to their own directory, symlinks are not followed out, order is stable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_lmstudio.files import AllowedDirectories, FileReadError, expand, read_files
from mcp_lmstudio.files.expansion import DIRECTORY_LINK, OUTSIDE_LINK

from .conftest import SECRET, assert_untouched


def paths(entries: list[str], allowed: AllowedDirectories) -> list[str]:
    return [record.path for record in read_files(entries, allowed).records if record.status == "read"]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_directory_is_read_recursively_in_sorted_order(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"sub/b/z.txt": "z", "sub/a.txt": "a", "sub/b/a.txt": "ba", "sub/c.txt": "c"})
    assert paths(["sub"], allowed) == ["sub/a.txt", "sub/b/a.txt", "sub/b/z.txt", "sub/c.txt", "sub/note.txt"]
    assert paths(["."], allowed) == paths(["./"], allowed) == paths([str(app)], allowed)


def test_hidden_files_and_git_are_skipped_but_read_when_named(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {".env": SECRET, ".git/config": "git", "sub/.hidden/x.txt": "h", "sub/.secret": "s"})
    found = paths(["."], allowed)
    assert found == ["README.md", "src/main.py", "sub/note.txt"]
    assert paths(["**/*"], allowed) == found
    assert paths([".env", "sub/.secret", ".git/config"], allowed) == [".env", "sub/.secret", ".git/config"]
    assert paths(["sub/.hidden"], allowed) == ["sub/.hidden/x.txt"]


def test_gitignored_files_are_skipped_but_read_when_named(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {".gitignore": "*.log\nbuild/\n", "x.log": "log", "build/out.js": "js", "src/y.log": "y"})
    assert paths(["."], allowed) == ["README.md", "src/main.py", "sub/note.txt"]
    with pytest.raises(FileReadError, match="matches no files"):
        read_files(["**/*.log"], allowed)
    assert paths(["x.log", "src/y.log", "build/out.js"], allowed) == ["x.log", "src/y.log", "build/out.js"]


def test_a_named_ignored_directory_is_walked(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {".gitignore": "build/\n", "build/a.js": "a", "build/b.log": "b", "build/.gitignore": "*.log\n"})
    assert paths(["build"], allowed) == ["build/a.js"]
    assert paths(["build/*.js"], allowed) == ["build/a.js"]


def test_nested_gitignore_files_apply_relative_to_their_directory(app: Path, allowed: AllowedDirectories) -> None:
    write(
        app,
        {
            ".gitignore": "*.tmp\n/top-only.txt\n",
            "top-only.txt": "t",
            "sub/top-only.txt": "kept: the rule is anchored at the root",
            "sub/.gitignore": "/local.txt\n!keep.tmp\ngen/\n",
            "sub/local.txt": "ignored here",
            "sub/deeper/local.txt": "kept: anchored at sub",
            "sub/keep.tmp": "re-included by the nearer file",
            "sub/drop.tmp": "ignored by the root file",
            "sub/gen/x.py": "ignored directory",
            "src/gen/y.py": "not ignored: the gen/ rule is sub's",
        },
    )
    assert paths(["."], allowed) == [
        "README.md",
        "src/gen/y.py",
        "src/main.py",
        "sub/deeper/local.txt",
        "sub/keep.tmp",
        "sub/note.txt",
        "sub/top-only.txt",
    ]
    assert paths(["sub"], allowed) == ["sub/deeper/local.txt", "sub/keep.tmp", "sub/note.txt", "sub/top-only.txt"]


def test_a_gitignore_symlinked_from_outside_is_not_read(
    app: Path, outside: Path, allowed: AllowedDirectories, touched: list[str]
) -> None:
    (outside / "rules").write_text("*.md\n")
    (app / ".gitignore").symlink_to(outside / "rules")
    assert paths(["."], allowed) == ["README.md", "src/main.py", "sub/note.txt"]
    assert_untouched(touched, outside)


def test_globs(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"src/pkg/a.py": "", "src/pkg/b.pyi": "", "src/c1.py": "", "src/c2.py": "", "src/cx.py": ""})
    assert paths(["src/**/*.py"], allowed) == ["src/c1.py", "src/c2.py", "src/cx.py", "src/main.py", "src/pkg/a.py"]
    assert paths(["src/*.py"], allowed) == ["src/c1.py", "src/c2.py", "src/cx.py", "src/main.py"]
    assert paths(["src/c?.py"], allowed) == ["src/c1.py", "src/c2.py", "src/cx.py"]
    assert paths(["src/c[0-9].py"], allowed) == ["src/c1.py", "src/c2.py"]
    assert paths(["src/c[!0-9].py"], allowed) == ["src/cx.py"]
    assert paths(["**/a.py"], allowed) == ["src/pkg/a.py"]
    assert paths(["src/**"], allowed)[-1] == "src/pkg/b.pyi"
    assert paths([str(app / "src" / "pkg" / "*.pyi")], allowed) == ["src/pkg/b.pyi"]


def test_a_literal_name_with_brackets_is_not_a_glob(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"pages/[id]/page.tsx": "page", "pages/i/page.tsx": "other"})
    assert paths(["pages/[id]/page.tsx"], allowed) == ["pages/[id]/page.tsx"]
    assert paths(["pages/[id]"], allowed) == ["pages/[id]/page.tsx"]


def test_a_glob_matching_nothing_is_refused(allowed: AllowedDirectories) -> None:
    with pytest.raises(FileReadError, match="matches no files"):
        read_files(["**/*.rs"], allowed)
    with pytest.raises(FileReadError, match="matches no files"):
        read_files(["missing/*.py"], allowed)


def test_an_empty_directory_is_refused(app: Path, allowed: AllowedDirectories) -> None:
    (app / "empty").mkdir()
    with pytest.raises(FileReadError, match="no files to read"):
        read_files(["empty"], allowed)


def test_symlinks_found_by_expansion(app: Path, outside: Path, allowed: AllowedDirectories, touched: list[str]) -> None:
    (app / "sub" / "out-file").symlink_to(outside / "secret")
    (app / "sub" / "out-missing").symlink_to(outside / "missing")
    (app / "sub" / "out-dir").symlink_to(outside / "dir")
    (app / "sub" / "in-dir").symlink_to(app / "src")
    (app / "sub" / "in-file").symlink_to(app / "README.md")
    bundle = read_files(["sub"], allowed)
    assert SECRET not in repr(bundle)
    records = {record.path: record for record in bundle.records}
    assert records["sub/out-file"].reason == records["sub/out-missing"].reason == OUTSIDE_LINK
    assert records["sub/out-dir"].reason == OUTSIDE_LINK
    assert (records["sub/out-file"].bytes, records["sub/out-dir"].status) == (0, "skipped")
    assert records["sub/in-dir"].reason == DIRECTORY_LINK
    assert records["sub/in-file"].status == "read"
    assert "sub/in-dir/main.py" not in records
    with_glob = read_files(["sub/**/*"], allowed)
    assert SECRET not in repr(with_glob)
    assert_untouched(touched, outside)


def test_duplicates_are_read_once_and_named_wins(app: Path, allowed: AllowedDirectories) -> None:
    (app / "link.md").symlink_to("README.md")
    (app / ".hidden.md").write_text("h")
    bundle = read_files(["README.md", ".", "**/*.md", "link.md", "./README.md"], allowed)
    assert [record.path for record in bundle.records].count("README.md") == 1
    assert [text for path, text in bundle.texts if path == "README.md"] == ["# App\n"]


def test_expansion_is_bounded(app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch) -> None:
    from mcp_lmstudio.files import expansion

    monkeypatch.setattr(expansion, "MAX_CANDIDATES", 5)
    write(app, {f"many/{n:02}.txt": "x" for n in range(10)})
    result = expand(["many"], allowed)
    assert len(result.candidates) == 5
    assert result.notes and "stopped" in result.notes[0]
    monkeypatch.setattr(expansion, "MAX_SCANNED", 3)
    assert len(expand(["many"], allowed).candidates) <= 3


def test_deep_trees_do_not_exhaust_the_stack(app: Path, allowed: AllowedDirectories) -> None:
    deep = app / "deep"
    path = deep
    for _ in range(80):
        path = path / "d"
    path.mkdir(parents=True)
    (path / "bottom.txt").write_text("bottom")
    (deep / "top.txt").write_text("top")
    assert paths(["deep"], allowed) == ["deep/top.txt"]  # below MAX_DEPTH levels nothing is walked


def test_a_directory_swapped_for_a_symlink_mid_walk_is_not_listed(
    app: Path, outside: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lmstudio.files import expansion

    real_listing = expansion._listing

    def swapping(handle: int | Path, result: expansion.Expansion) -> object:
        listing = real_listing(handle, result)
        if not (app / "sub-old").exists():
            os.rename(app / "sub", app / "sub-old")
            (app / "sub").symlink_to(outside / "dir")
        return listing

    monkeypatch.setattr(expansion, "_listing", swapping)
    bundle = read_files(["."], allowed)
    assert SECRET not in repr(bundle)
    assert all("secret" not in record.path for record in bundle.records)
