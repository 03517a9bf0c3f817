"""The package stands alone (no `mcp`, no `lmstudio`), and the settings helpers check what the CLI passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_lmstudio.errors import InvalidInputError
from mcp_lmstudio.files import allowed_from, dirs_from_env, write_allowed_from_env

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_imports_neither_mcp_nor_lmstudio(tmp_path: Path) -> None:
    script = (
        "import io, sys\n"
        "from PIL import Image\n"
        "from mcp_lmstudio.files import AllowedDirectories, read_files, write_answer\n"
        "from pathlib import Path\n"
        "d = Path(sys.argv[1])\n"
        "buf = io.BytesIO(); Image.new('RGB', (2, 2)).save(buf, format='GIF')\n"
        "(d / 'a.gif').write_bytes(buf.getvalue()); (d / 'a.txt').write_text('x')\n"
        "(d / 'a.pdf').write_bytes(b'%PDF-1.4 broken')\n"
        "a = AllowedDirectories([str(d)])\n"
        "read_files(['a.gif', 'a.txt', '.'], a)\n"
        "write_answer('out.md', 'x', a, allow_write=True, overwrite=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mcp', 'lmstudio', 'httpx', 'anyio'}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_allowed_from_resolves_relative_directories_from_the_base(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert allowed_from([".", "a", "a"], base=tmp_path).dirs == (tmp_path, tmp_path / "a")


def test_allowed_from_refuses_a_missing_or_non_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="does not exist"):
        allowed_from(["missing"], base=tmp_path)
    with pytest.raises(InvalidInputError, match="not a directory"):
        allowed_from(["file"], base=tmp_path)
    with pytest.raises(InvalidInputError, match="not a valid path"):
        allowed_from(["a\x00b"], base=tmp_path)


def test_allowed_from_expands_the_operators_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert allowed_from(["~"], base=Path("/")).dirs == (tmp_path,)


def test_the_environment_settings() -> None:
    assert dirs_from_env(None) == dirs_from_env("") == dirs_from_env("  ") == []
    assert dirs_from_env(os.pathsep.join(["/a", "", "b"])) == ["/a", "b"]
    assert [write_allowed_from_env(v) for v in (None, "", "0", "no", "1", "true", " YES ")] == [
        False,
        False,
        False,
        False,
        True,
        True,
        True,
    ]
