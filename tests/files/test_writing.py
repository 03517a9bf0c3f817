"""Writing the answer: only with --allow-write, only inside, never through a symlink, never replacing a file
without `overwrite`, atomically (a failure leaves the directory as it was)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mcp_lmstudio.files import (
    AllowedDirectories,
    FileAccessError,
    NoAllowedDirectoriesError,
    OutputFileError,
    WriteNotAllowedError,
    check_output_target,
    receipt,
    write_answer,
    writing,
)

from .conftest import SECRET


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


def test_writing_is_refused_without_allow_write(app: Path, allowed: AllowedDirectories) -> None:
    before = listing(app)
    with pytest.raises(WriteNotAllowedError) as info:
        write_answer("out.md", "text", allowed, allow_write=False, overwrite=False)
    assert "--allow-write" in str(info.value) and "MCP_LMSTUDIO_ALLOW_WRITE=1" in str(info.value)
    assert listing(app) == before


def test_a_new_file_is_written_with_a_receipt(app: Path, allowed: AllowedDirectories) -> None:
    written = write_answer("sub/out.md", "héllo", allowed, allow_write=True, overwrite=False)
    assert (written.path, written.bytes) == (app / "sub" / "out.md", 6)
    assert written.to_dict() == {"path": str(app / "sub" / "out.md"), "bytes": 6}
    assert (app / "sub" / "out.md").read_text() == "héllo"
    assert listing(app / "sub") == ["note.txt", "out.md"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_gets_0644_less_the_umask(umask: int, app: Path, allowed: AllowedDirectories) -> None:
    previous = os.umask(umask)
    try:
        write_answer("out.md", "x", allowed, allow_write=True, overwrite=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(app / "out.md").st_mode) == 0o644 & ~umask


def test_an_existing_file_is_not_replaced_without_overwrite(app: Path, allowed: AllowedDirectories) -> None:
    with pytest.raises(OutputFileError, match="already exists.*overwrite"):
        check_output_target("README.md", allowed, allow_write=True, overwrite=False)
    with pytest.raises(OutputFileError, match="already exists"):
        write_answer("README.md", "new", allowed, allow_write=True, overwrite=False)
    assert (app / "README.md").read_text() == "# App\n"
    assert listing(app) == ["README.md", "src", "sub"]


def test_overwrite_replaces_and_keeps_the_permissions(app: Path, allowed: AllowedDirectories) -> None:
    os.chmod(app / "README.md", 0o600)
    inode = os.stat(app / "README.md").st_ino
    write_answer("README.md", "new", allowed, allow_write=True, overwrite=True)
    assert (app / "README.md").read_text() == "new"
    assert stat.S_IMODE(os.stat(app / "README.md").st_mode) == 0o600
    assert os.stat(app / "README.md").st_ino != inode  # replaced by rename, not rewritten in place
    assert listing(app) == ["README.md", "src", "sub"]


@pytest.mark.parametrize("entry", ["../outside/answer.md", "../answer.md", "sub/../../answer.md"])
def test_writing_outside_is_refused(entry: str, app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    before = listing(outside), listing(outside.parent)
    with pytest.raises(FileAccessError, match="`output_file` entry"):
        write_answer(entry, "x", allowed, allow_write=True, overwrite=True)
    assert (listing(outside), listing(outside.parent)) == before


def test_the_refusal_to_write_outside_reads_the_same_whether_or_not_it_exists(
    outside: Path, allowed: AllowedDirectories
) -> None:
    messages = []
    for entry in (str(outside / "secret"), str(outside / "missing"), str(outside / "no-dir" / "x")):
        with pytest.raises(FileAccessError) as info:
            check_output_target(entry, allowed, allow_write=True, overwrite=False)
        messages.append(str(info.value).replace(repr(entry), "<entry>"))
    assert len(set(messages)) == 1


def test_a_symlink_target_is_refused(app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    (app / "to-outside.md").symlink_to(outside / "secret")
    (app / "to-inside.md").symlink_to(app / "README.md")
    (app / "dangling.md").symlink_to(outside / "created-through-link")
    for entry in ("to-outside.md", "to-inside.md", "dangling.md"):
        with pytest.raises(OutputFileError, match="symbolic link"):
            write_answer(entry, "x", allowed, allow_write=True, overwrite=True)
    assert (outside / "secret").read_text() == SECRET
    assert not (outside / "created-through-link").exists()
    assert (app / "README.md").read_text() == "# App\n"


def test_a_parent_directory_symlinked_outside_is_refused(app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    (app / "linkdir").symlink_to(outside)
    with pytest.raises(FileAccessError):
        write_answer("linkdir/answer.md", "x", allowed, allow_write=True, overwrite=False)
    assert listing(outside) == ["dir", "secret"]


def test_a_parent_swapped_for_a_symlink_during_the_write_is_caught(
    app: Path, outside: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_check = writing.check_output_target

    def check_then_swap(*args: object, **kwargs: object) -> writing.OutputTarget:
        target = real_check(*args, **kwargs)  # type: ignore[arg-type]
        os.rename(app / "sub", app / "sub-old")
        (app / "sub").symlink_to(outside / "dir")
        return target

    monkeypatch.setattr(writing, "check_output_target", check_then_swap)
    with pytest.raises(OutputFileError, match="changed"):
        write_answer("sub/answer.md", "x", allowed, allow_write=True, overwrite=False)
    assert listing(outside / "dir") == ["secret"]


@pytest.mark.parametrize("entry", ["sub", "sub/", ".", "..", "sub/.."])
def test_a_directory_is_not_a_target(entry: str, allowed: AllowedDirectories) -> None:
    with pytest.raises((OutputFileError, FileAccessError)):
        write_answer(entry, "x", allowed, allow_write=True, overwrite=True)


def test_a_missing_directory_is_refused(app: Path, allowed: AllowedDirectories) -> None:
    with pytest.raises(OutputFileError, match="directory that does not exist"):
        write_answer("new-dir/answer.md", "x", allowed, allow_write=True, overwrite=False)
    assert not (app / "new-dir").exists()


def test_a_fifo_target_is_refused(app: Path, allowed: AllowedDirectories) -> None:
    os.mkfifo(app / "pipe")
    with pytest.raises(OutputFileError, match="FIFO"):
        write_answer("pipe", "x", allowed, allow_write=True, overwrite=True)


def test_writing_needs_an_allowed_directory() -> None:
    with pytest.raises(NoAllowedDirectoriesError):
        write_answer("answer.md", "x", AllowedDirectories([]), allow_write=True, overwrite=False)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_failure_mid_write_leaves_nothing_behind(
    failing: str, app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = getattr(os, failing)
    calls: list[int] = []

    def fail(fd: int, *args: object) -> object:
        calls.append(fd)
        if failing == "write" and len(calls) == 1:
            return real(fd, bytes(args[0])[:1024])  # type: ignore[call-overload]  # a short write, then the failure
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OutputFileError, match="No space left") as info:
        write_answer("sub/answer.md", "x" * (3 * 1024 * 1024), allowed, allow_write=True, overwrite=False)
    assert "Nothing was written" in str(info.value)
    assert listing(app / "sub") == ["note.txt"]
    assert len(calls) == (2 if failing == "write" else 1)


def test_a_failure_while_committing_leaves_nothing_behind(
    app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "link", refuse)
    with pytest.raises(OutputFileError):
        write_answer("answer.md", "x", allowed, allow_write=True, overwrite=False)
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OutputFileError):
        write_answer("README.md", "x", allowed, allow_write=True, overwrite=True)
    assert listing(app) == ["README.md", "src", "sub"]
    assert (app / "README.md").read_text() == "# App\n"


def test_a_cancellation_mid_write_leaves_nothing_behind(
    app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_answer("answer.md", "x", allowed, allow_write=True, overwrite=False)
    assert listing(app) == ["README.md", "src", "sub"]


def test_a_file_that_appears_during_the_write_is_not_replaced(
    app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write_temp = writing._write_temp

    def racing(*args: object) -> str:
        name = real_write_temp(*args)  # type: ignore[arg-type]
        (app / "answer.md").write_text("someone else's")
        return name

    monkeypatch.setattr(writing, "_write_temp", racing)
    with pytest.raises(OutputFileError, match="appeared"):
        write_answer("answer.md", "mine", allowed, allow_write=True, overwrite=False)
    assert (app / "answer.md").read_text() == "someone else's"
    assert listing(app) == ["README.md", "answer.md", "src", "sub"]


def test_the_target_is_checked_before_generation(app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    target = check_output_target("sub/answer.md", allowed, allow_write=True, overwrite=False)
    assert target.path == app / "sub" / "answer.md"
    assert not target.path.exists()
    with pytest.raises(FileAccessError):
        check_output_target(str(outside / "x"), allowed, allow_write=True, overwrite=False)
    with pytest.raises(WriteNotAllowedError):
        check_output_target("sub/answer.md", allowed, allow_write=False, overwrite=False)


def test_the_receipt_gives_path_size_and_the_first_200_characters(app: Path, allowed: AllowedDirectories) -> None:
    text = "".join(chr(ord("a") + n % 26) for n in range(500))
    written = write_answer("answer.md", text, allowed, allow_write=True, overwrite=False)
    shown = receipt(written, text)
    assert str(app / "answer.md") in shown and "500 bytes" in shown
    assert text[:200] + "..." in shown and text[:201] not in shown
    assert receipt(written, "short").endswith("It begins:\nshort")
