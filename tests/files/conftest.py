"""Fixtures for files by path: an allowed directory `app` beside an `outside` one holding secrets, and spies
that record every path the package opens or lists (to prove nothing outside is touched)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_lmstudio.files import AllowedDirectories

SECRET = "TOP-SECRET-CONTENT"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """The allowed directory: `src/main.py`, `README.md`, `sub/note.txt`."""
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "src" / "main.py").write_text("print('hello')\n")
    (root / "README.md").write_text("# App\n")
    (root / "sub" / "note.txt").write_text("a note\n")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to `app`, not allowed: `secret`, `dir/secret`."""
    root = tmp_path / "outside"
    (root / "dir").mkdir(parents=True)
    (root / "secret").write_text(SECRET)
    (root / "dir" / "secret").write_text(SECRET)
    return root


@pytest.fixture
def allowed(app: Path) -> AllowedDirectories:
    return AllowedDirectories([str(app)])


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Absolute paths of what os.open opened and os.scandir listed while the test runs."""
    seen: list[str] = []
    real_open, real_scandir = os.open, os.scandir

    def full(path: object, dir_fd: int | None) -> str:
        name = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
        if dir_fd is not None and not os.path.isabs(name):
            return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), name)
        return name

    def spy_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))  # what was really opened (an attempt that fails is not)
        return fd

    def spy_scandir(path: object = ".") -> object:
        seen.append(os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else full(path, None))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "scandir", spy_scandir)
    yield seen


def assert_untouched(touched: list[str], outside: Path) -> None:
    """Nothing under `outside` was opened or listed."""
    real = os.path.realpath(outside)
    assert [path for path in touched if os.path.realpath(path).startswith(real + os.sep) or path == real] == []
