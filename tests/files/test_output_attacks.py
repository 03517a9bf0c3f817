"""Attacks through `output_file`: overwriting keeps no setuid/setgid/sticky or execute bit, version-control
data (git hooks) is never written, and a long name fails before generation, not after."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mcp_lmstudio.files import AllowedDirectories, OutputFileError, check_output_target, write_answer


def write(entry: str, allowed: AllowedDirectories, *, overwrite: bool = False) -> Path:
    return write_answer(entry, "echo pwned\n", allowed, allow_write=True, overwrite=overwrite).path


def test_overwriting_drops_special_and_execute_bits(app: Path, allowed: AllowedDirectories) -> None:
    script = app / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o6755)
    write("run.sh", allowed, overwrite=True)
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o644  # was 0o6755: a setuid program holding the answer
    (app / "private.md").write_text("x")
    os.chmod(app / "private.md", 0o600)
    write("private.md", allowed, overwrite=True)
    assert stat.S_IMODE(os.stat(app / "private.md").st_mode) == 0o600


@pytest.mark.parametrize(
    "entry", [".git/hooks/pre-commit", ".git/config", "sub/.GIT/x", ".git", "x/.hg/hgrc", ".svn/y"]
)
def test_version_control_data_is_never_written(entry: str, app: Path, allowed: AllowedDirectories) -> None:
    (app / ".git" / "hooks").mkdir(parents=True)
    (app / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\n")
    before = sorted(str(path) for path in app.rglob("*"))
    with pytest.raises(OutputFileError, match="version-control"):
        write(entry, allowed, overwrite=True)
    assert sorted(str(path) for path in app.rglob("*")) == before
    assert (app / ".git" / "hooks" / "pre-commit").read_text() == "#!/bin/sh\n"


def test_version_control_data_is_not_reached_through_a_symlink(app: Path, allowed: AllowedDirectories) -> None:
    (app / ".git" / "hooks").mkdir(parents=True)
    (app / "hooks").symlink_to(app / ".git" / "hooks")
    with pytest.raises(OutputFileError, match="version-control"):
        check_output_target("hooks/pre-commit", allowed, allow_write=True, overwrite=False)


def test_a_long_valid_name_is_written(app: Path, allowed: AllowedDirectories) -> None:
    name = "\U0001f600" * 60 + ".md"  # 243 bytes: the temporary name made from it was over 255
    assert write(name, allowed) == app / name
    assert sorted(os.listdir(app)) == sorted(["README.md", "src", "sub", name])


def test_a_name_over_255_bytes_is_refused_before_generation(app: Path, allowed: AllowedDirectories) -> None:
    with pytest.raises(OutputFileError, match="256 bytes, over the 255-byte limit"):
        check_output_target("é" * 128, allowed, allow_write=True, overwrite=False)


@pytest.mark.parametrize("entry", [".", "..", "sub/..", "sub/", "./"])
def test_a_directory_is_called_a_directory(entry: str, allowed: AllowedDirectories) -> None:
    with pytest.raises(OutputFileError, match="names a directory, not a file"):  # `.` was "not inside"
        check_output_target(entry, allowed, allow_write=True, overwrite=True)
