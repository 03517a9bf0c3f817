"""Attacks on confinement: every path that leads outside the allowed directories is refused, with one
wording whether or not something exists there, and nothing outside is opened, listed or returned."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_lmstudio.files import (
    AllowedDirectories,
    FileAccessError,
    FileReadError,
    NoAllowedDirectoriesError,
    confinement,
    open_confined,
    read_files,
)

from .conftest import SECRET, assert_untouched


def refusal(entry: str, allowed: AllowedDirectories) -> FileAccessError:
    with pytest.raises(FileAccessError) as info:
        read_files([entry], allowed)
    assert info.value.entry == entry
    assert repr(entry) in str(info.value)
    for directory in allowed.listing:
        assert directory in str(info.value)
    assert SECRET not in str(info.value)
    return info.value


def within(seconds: float, action: Callable[[], object]) -> BaseException | object:
    """Run `action` in a thread; fail if it does not finish in time (it would be blocked on a FIFO)."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return outcome[0]


def test_an_absolute_path_outside_is_refused(allowed: AllowedDirectories, outside: Path, touched: list[str]) -> None:
    refusal(str(outside / "secret"), allowed)
    assert_untouched(touched, outside)


@pytest.mark.parametrize("entry", ["../outside/secret", "src/../../outside/secret", "nope/../../outside/secret"])
def test_dot_dot_traversal_is_refused(
    entry: str, allowed: AllowedDirectories, outside: Path, touched: list[str]
) -> None:
    refusal(entry, allowed)
    assert_untouched(touched, outside)


def test_dot_dot_that_stays_inside_is_read(allowed: AllowedDirectories) -> None:
    bundle = read_files(["src/../README.md"], allowed)
    assert bundle.texts == [("README.md", "# App\n")]


def test_a_sibling_sharing_the_prefix_is_outside(tmp_path: Path, allowed: AllowedDirectories, app: Path) -> None:
    evil = tmp_path / "app-evil"
    evil.mkdir()
    (evil / "secret").write_text(SECRET)
    refusal(str(evil / "secret"), allowed)
    refusal("../app-evil/secret", allowed)
    refusal(str(app) + "-evil/secret", allowed)


def test_a_symlinked_file_pointing_out_is_refused(
    app: Path, outside: Path, allowed: AllowedDirectories, touched: list[str]
) -> None:
    (app / "link.txt").symlink_to(outside / "secret")
    refusal("link.txt", allowed)
    refusal(str(app / "link.txt"), allowed)
    assert_untouched(touched, outside)


def test_a_symlinked_directory_pointing_out_is_refused(
    app: Path, outside: Path, allowed: AllowedDirectories, touched: list[str]
) -> None:
    (app / "linkdir").symlink_to(outside / "dir")
    for entry in ("linkdir/secret", "linkdir", "linkdir/", "linkdir/*", "linkdir/**/*"):
        refusal(entry, allowed)
    assert_untouched(touched, outside)


def test_a_symlink_chain_is_followed_to_its_end(app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    (app / "c").symlink_to(outside / "secret")
    (app / "b").symlink_to(app / "c")
    (app / "a").symlink_to("b")
    refusal("a", allowed)
    (app / "d").symlink_to("sub/note.txt")
    (app / "e").symlink_to("d")
    assert read_files(["e"], allowed).texts == [("sub/note.txt", "a note\n")]


def test_a_symlink_loop_is_refused_cleanly(app: Path, allowed: AllowedDirectories) -> None:
    (app / "loop1").symlink_to("loop2")
    (app / "loop2").symlink_to("loop1")
    with pytest.raises((FileReadError, FileAccessError)):
        read_files(["loop1"], allowed)


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_read(
    app: Path, outside: Path, allowed: AllowedDirectories
) -> None:
    checked = allowed.check("README.md")
    os.unlink(app / "README.md")
    (app / "README.md").symlink_to(outside / "secret")
    with pytest.raises(FileReadError, match="changed while it was being opened"):
        open_confined(checked)


def test_a_directory_swapped_for_a_symlink_after_the_check_is_not_read(
    app: Path, outside: Path, allowed: AllowedDirectories
) -> None:
    (outside / "dir" / "note.txt").write_text(SECRET)
    checked = allowed.check("sub/note.txt")
    os.rename(app / "sub", app / "sub-old")
    (app / "sub").symlink_to(outside / "dir")
    with pytest.raises(FileReadError, match="changed"):
        open_confined(checked)


def test_the_inode_check_alone_catches_a_swap(
    app: Path, outside: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the component walk and /proc guard off (as on a platform without them), dev/ino still catches it."""
    monkeypatch.setattr(confinement, "CAN_WALK", False)
    monkeypatch.setattr(confinement, "_kernel_path", lambda fd: None)
    (outside / "dir" / "note.txt").write_text(SECRET)
    checked = allowed.check("sub/note.txt")
    os.rename(app / "sub", app / "sub-old")
    (app / "sub").symlink_to(outside / "dir")
    with pytest.raises(FileReadError, match="changed"):
        open_confined(checked)


def test_the_proc_guard_alone_catches_a_swap(
    app: Path, outside: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(confinement, "CAN_WALK", False)
    (outside / "dir" / "note.txt").write_text(SECRET)
    checked = allowed.check("sub/note.txt")
    os.rename(app / "sub", app / "sub-old")
    (app / "sub").symlink_to(outside / "dir")
    swapped = os.stat(app / "sub" / "note.txt")
    forged = os.stat_result((*checked.stat[:1], swapped.st_ino, swapped.st_dev, *checked.stat[3:]))
    with pytest.raises(FileReadError, match="changed"):
        open_confined(confinement.CheckedPath(checked.entry, checked.real, checked.root, forged))


@pytest.mark.parametrize("entry", ["/proc/self/environ", "/proc/self/root/etc/passwd", "/proc/self/cwd/secret"])
def test_proc_paths_are_refused(
    entry: str, allowed: AllowedDirectories, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(outside)
    refusal(entry, allowed)


def test_an_allowed_directory_that_is_a_symlink_counts_by_its_real_path(
    tmp_path: Path, app: Path, outside: Path
) -> None:
    (tmp_path / "applink").symlink_to(app)
    allowed = AllowedDirectories([str(tmp_path / "applink")])
    assert allowed.dirs == (app,)
    assert read_files([str(tmp_path / "applink" / "README.md")], allowed).texts == [("README.md", "# App\n")]
    assert read_files(["README.md"], allowed).texts == [("README.md", "# App\n")]
    refusal("../outside/secret", allowed)


def test_nul_bytes_are_refused(allowed: AllowedDirectories) -> None:
    for entry in ("README.md\x00", "\x00/etc/passwd", "src/\x00main.py"):
        with pytest.raises(FileReadError, match="NUL byte"):
            read_files([entry], allowed)


def test_a_fifo_named_explicitly_is_refused_without_blocking(app: Path, allowed: AllowedDirectories) -> None:
    os.mkfifo(app / "pipe")
    outcome = within(5, lambda: read_files(["pipe"], allowed))
    assert isinstance(outcome, FileReadError)
    assert "FIFO" in str(outcome)


def test_a_fifo_found_by_expansion_is_skipped_without_blocking(app: Path, allowed: AllowedDirectories) -> None:
    os.mkfifo(app / "sub" / "pipe")
    outcome = within(5, lambda: read_files(["sub"], allowed))
    assert not isinstance(outcome, BaseException)
    assert {
        "path": "sub/pipe",
        "bytes": 0,
        "status": "skipped",
        "reason": "is a FIFO (named pipe), not a regular file",
    } in (
        outcome.to_dicts()  # type: ignore[attr-defined]
    )


def test_a_fifo_swapped_in_after_the_check_does_not_block(app: Path, allowed: AllowedDirectories) -> None:
    checked = allowed.check("README.md")
    os.unlink(app / "README.md")
    os.mkfifo(app / "README.md")
    outcome = within(5, lambda: open_confined(checked))
    assert isinstance(outcome, FileReadError)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_devices_are_refused_without_blocking(device: str, allowed: AllowedDirectories, app: Path) -> None:
    refusal(device, allowed)
    (app / "dev-link").symlink_to(device)
    refusal("dev-link", allowed)
    inside_dev = AllowedDirectories(["/dev"])
    outcome = within(5, lambda: read_files([device], inside_dev))
    assert isinstance(outcome, FileReadError)
    assert "character device" in str(outcome)


def test_a_unix_socket_is_refused(tmp_path: Path) -> None:
    short = Path(os.path.realpath("/tmp")) / f"sock-{os.getpid()}"  # AF_UNIX paths are short
    short.mkdir()
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(short / "s"))
        outcome = within(5, lambda: read_files(["s"], AllowedDirectories([str(short)])))
        assert isinstance(outcome, FileReadError)
        assert "socket" in str(outcome)
    finally:
        server.close()
        os.unlink(short / "s")
        short.rmdir()


@pytest.mark.parametrize("entry", ["~", "~/.ssh/id_rsa", "~root/.ssh/id_rsa"])
def test_tilde_is_refused_not_expanded(
    entry: str, allowed: AllowedDirectories, outside: Path, monkeypatch: pytest.MonkeyPatch, touched: list[str]
) -> None:
    (outside / ".ssh").mkdir()
    (outside / ".ssh" / "id_rsa").write_text(SECRET)
    monkeypatch.setenv("HOME", str(outside))
    with pytest.raises(FileReadError, match="not expanded") as info:
        read_files([entry], allowed)
    assert SECRET not in str(info.value)
    assert_untouched(touched, outside)


def test_a_file_really_named_tilde_is_reached_with_dot_slash(app: Path, allowed: AllowedDirectories) -> None:
    (app / "~notes").write_text("tilde\n")
    assert read_files(["./~notes"], allowed).texts == [("~notes", "tilde\n")]


def test_the_refusal_reads_the_same_whether_or_not_the_path_exists(
    app: Path, outside: Path, allowed: AllowedDirectories
) -> None:
    (app / "to-existing").symlink_to(outside / "secret")
    (app / "to-missing").symlink_to(outside / "missing")
    (app / "to-existing-dir").symlink_to(outside / "dir")
    (app / "to-missing-dir").symlink_to(outside / "missing-dir")
    pairs = [
        (str(outside / "secret"), str(outside / "missing")),
        ("../outside/secret", "../outside/missing"),
        ("../outside/dir", "../outside/missing-dir"),
        ("../outside/dir/secret", "../outside/missing-dir/secret"),
        ("to-existing", "to-missing"),
        ("to-existing-dir/secret", "to-missing-dir/secret"),
        ("to-existing-dir", "to-missing-dir"),
        ("../outside/*", "../missing/*"),
    ]
    for existing, missing in pairs:
        first = str(refusal(existing, allowed)).replace(repr(existing), "<entry>")
        second = str(refusal(missing, allowed)).replace(repr(missing), "<entry>")
        assert first == second


def test_a_missing_path_inside_may_say_so(allowed: AllowedDirectories) -> None:
    with pytest.raises(FileReadError, match="does not exist"):
        read_files(["missing.txt"], allowed)


def test_without_allowed_directories_files_are_refused_with_the_fix(outside: Path) -> None:
    with pytest.raises(NoAllowedDirectoriesError) as info:
        read_files([str(outside / "secret")], AllowedDirectories([]))
    assert "--allow-dir" in str(info.value)
    assert "MCP_LMSTUDIO_ALLOW_DIRS" in str(info.value)


@pytest.mark.parametrize("entry", ["../*", "../**/secret", "../outside/*", "src/../../*"])
def test_globs_cannot_escape(entry: str, allowed: AllowedDirectories, outside: Path, touched: list[str]) -> None:
    refusal(entry, allowed)
    assert_untouched(touched, outside)


def test_an_absolute_glob_outside_is_refused(allowed: AllowedDirectories, outside: Path, touched: list[str]) -> None:
    refusal(str(outside / "*"), allowed)
    refusal(str(outside) + "/**/*", allowed)
    assert_untouched(touched, outside)


def test_dot_dot_after_a_wildcard_is_refused(allowed: AllowedDirectories, outside: Path, touched: list[str]) -> None:
    for entry in ("*/../../outside/secret", "src/**/../../../outside/*"):
        with pytest.raises((FileReadError, FileAccessError)):
            read_files([entry], allowed)
    assert_untouched(touched, outside)


def test_client_roots_only_narrow(tmp_path: Path, app: Path, outside: Path) -> None:
    allowed = AllowedDirectories([str(app)])
    assert allowed.narrowed([tmp_path.as_uri()]).dirs == (app,)
    assert allowed.narrowed([(app / "src").as_uri()]).dirs == (app / "src",)
    assert allowed.narrowed([str(app / "sub")]).dirs == (app / "sub",)
    assert allowed.narrowed(["https://example.com/", "relative/path"]).dirs == ()
    narrowed = allowed.narrowed([outside.as_uri()])
    assert narrowed.dirs == ()
    with pytest.raises(NoAllowedDirectoriesError, match="client's roots"):
        read_files(["README.md"], narrowed)
    src_only = allowed.narrowed([(app / "src").as_uri()])
    refusal(str(app / "README.md"), src_only)
    assert read_files(["main.py"], src_only).texts == [("main.py", "print('hello')\n")]


def test_a_root_through_a_symlink_does_not_widen(tmp_path: Path, app: Path, outside: Path) -> None:
    (app / "escape").symlink_to(outside)
    narrowed = AllowedDirectories([str(app)]).narrowed([(app / "escape").as_uri()])
    assert narrowed.dirs == ()


def test_an_unreadable_file_says_so(allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(confinement, "_walk_open", denied)  # as root, chmod 0 would not stop the read
    with pytest.raises(FileReadError, match=r"cannot be read \(Permission denied\)"):
        read_files(["README.md"], allowed)
