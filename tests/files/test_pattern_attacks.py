"""Attacks on expansion's cost: globs and `.gitignore` lines that made regular expressions backtrack for
seconds to hours (with the GIL held), huge `.gitignore` files, and very deep entries. Each test is the
attack; the timings are generous bounds on what took seconds or more before."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mcp_lmstudio.files import AllowedDirectories, FileReadError, expand, expansion, patterns, read_files

from .test_expansion import paths, write


def test_a_glob_with_a_run_of_stars_is_matched_at_once(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"test_files_tools.py": "x", "conftest_helpers.py": "x"})
    started = time.perf_counter()
    with pytest.raises(FileReadError, match="matches no files"):
        read_files(["*" * 13 + "Z"], allowed)  # took about 3 s a name as a regular expression
    assert paths(["*" * 13 + "s.py"], allowed) == ["conftest_helpers.py", "test_files_tools.py"]
    assert time.perf_counter() - started < 1.0


def test_a_glob_of_many_separate_stars_is_matched_at_once(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"a" * 120: "x", "deep/" + "a" * 200 + "/b.txt": "x"})
    started = time.perf_counter()
    with pytest.raises(FileReadError, match="matches no files"):
        read_files(["*a" * patterns.MAX_GLOB_STARS + "Z"], allowed)
    assert paths(["**/**/**/*a*a*a*a*a*/*.txt"], allowed) == ["deep/" + "a" * 200 + "/b.txt"]
    assert time.perf_counter() - started < 1.0


def test_a_glob_over_the_wildcard_limit_is_refused_with_the_limit(allowed: AllowedDirectories) -> None:
    with pytest.raises(FileReadError, match=f"over the limit of {patterns.MAX_GLOB_STARS} per glob"):
        read_files(["*a" * (patterns.MAX_GLOB_STARS + 1)], allowed)


@pytest.mark.parametrize("entry", ["[z-a]*", "src/[9-0].py"])
def test_a_reversed_range_is_a_clear_error(entry: str, allowed: AllowedDirectories) -> None:
    with pytest.raises(FileReadError, match="reversed range"):  # was re.error: an internal error
        read_files([entry], allowed)


def test_glob_classes_and_ranges_still_match(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {"v/a-1.txt": "", "v/b]2.txt": "", "v/!3.txt": "", "v/[x].txt": ""})
    assert paths(["v/[a-]-?.txt"], allowed) == ["v/a-1.txt"]
    assert paths(["v/[]b]*"], allowed) == ["v/b]2.txt"]
    assert paths(["v/[!a-b[]*"], allowed) == ["v/!3.txt"]
    assert paths(["v/[[]x].txt"], allowed) == ["v/[x].txt"]


def test_a_crafted_gitignore_line_costs_no_time(app: Path, allowed: AllowedDirectories) -> None:
    write(
        app,
        {
            ".gitignore": "*" * 13 + "Z\n" + "*a" * 6 + "Z\n" + "*a" * 6 + "\n",
            "test_files_tools.py": "x",
            "b" + "a" * 16 + "b": "kept",
            "sub/" + "a" * 18: "ignored by the third line",
        },
    )
    started = time.perf_counter()
    found = paths(["."], allowed)
    assert time.perf_counter() - started < 1.0  # seconds through pathspec's regular expressions
    assert "b" + "a" * 16 + "b" in found and "test_files_tools.py" in found
    assert "sub/" + "a" * 18 not in found


def test_expansion_stops_when_its_time_is_spent(
    app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(expansion, "MAX_EXPANSION_SECONDS", -1.0)
    result = expand(["."], allowed)
    assert result.truncated and result.candidates == []
    assert any("stopped after -1 seconds" in note for note in result.notes)
    assert read_files(["src/**/*.py", "README.md"], allowed).texts == [("README.md", "# App\n")]


def test_huge_gitignore_files_are_read_only_up_to_the_budget(app: Path, allowed: AllowedDirectories) -> None:
    rules = "".join(f"**/n{i:06d}*x/**/y\n" for i in range(12000))[: 256 * 1024]  # 216 KB, 12,000 rules
    directory = app / "repo"
    for _ in range(3):
        write(directory, {".gitignore": rules, **{f"f{i}.txt": "x" for i in range(60)}})
        directory = directory / "sub"
    (app / "repo" / "sub" / ".gitignore").write_text(rules + "*.txt\n")
    started = time.perf_counter()
    bundle = read_files(["repo"], allowed)
    assert time.perf_counter() - started < 3.0  # 8 s before, for four such files
    assert "repo/sub/f0.txt" in [record.path for record in bundle.records]  # `*.txt` is beyond the budget
    assert any(".gitignore rules were not applied" in note for note in bundle.notes)


def test_gitignore_rules_beyond_the_count_limit_are_not_applied(app: Path, allowed: AllowedDirectories) -> None:
    write(app, {".gitignore": "".join(f"n{i}\n" for i in range(patterns.MAX_GITIGNORE_RULES)) + "*.md\n"})
    bundle = read_files(["."], allowed)
    assert [record.path for record in bundle.records] == ["README.md", "src/main.py", "sub/note.txt"]
    assert any(f"{patterns.MAX_GITIGNORE_RULES:,} rules" in note for note in bundle.notes)
    write(app, {".gitignore": "*.md\n"})
    assert read_files(["."], allowed).notes == []


def _chain(root: Path, depth: int) -> Path:
    """`root/a/a/.../a` (depth levels) with `f.txt` at the bottom, built with dir_fd (no PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("a", dir_fd=fd)
        child = os.open("a", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("f.txt", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.close(fd)
    return root


def test_an_entry_too_deep_is_refused_before_any_walk(app: Path, allowed: AllowedDirectories) -> None:
    _chain(app, 300)
    deep = "/".join(["a"] * 300)
    for entry in (deep + "/f.txt", deep, deep + "/*"):
        with pytest.raises(FileReadError, match="over the limit of 64"):
            read_files([entry], allowed)
    with pytest.raises(FileReadError, match="no files to read"):  # 64 levels deep is accepted (f.txt is deeper)
        read_files(["/".join(["a"] * 64)], allowed)


def test_naming_a_deep_directory_walks_down_once(app: Path, allowed: AllowedDirectories, touched: list[str]) -> None:
    _chain(app, 60)
    assert paths(["/".join(["a"] * 60)], allowed) == ["/".join(["a"] * 60) + "/f.txt"]
    assert len(touched) < 4 * 60  # it re-walked from the root for every ancestor: about 60 * 60 / 2
