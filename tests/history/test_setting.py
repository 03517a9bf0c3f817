"""`--history` parsing, `off`, and the helpers: ttl wording, owner keys, the replayed system prompt; and what
the package may import."""

from __future__ import annotations

import ast
import hashlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_lmstudio.history import (
    DEFAULT_TTL_S,
    MemoryStore,
    NoStore,
    SqliteStore,
    StoredTurn,
    UnknownResponseError,
    default_history_path,
    describe_ttl,
    effective_system,
    owner_key,
    store_from_setting,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mcp_lmstudio" / "history"


@pytest.mark.parametrize("setting", ["memory", " MEMORY ", "Memory"])
def test_memory(setting: str) -> None:
    store = store_from_setting(setting, 60)
    assert isinstance(store, MemoryStore) and store.ttl_s == 60 and store.location == "memory"


@pytest.mark.parametrize("setting", ["off", "OFF", " off"])
def test_off_keeps_nothing_and_gives_no_response_id(setting: str) -> None:
    store = store_from_setting(setting, 60)
    assert isinstance(store, NoStore) and not store.enabled and store.location == "off"
    assert store.new_response_id() is None
    store.save(StoredTurn("abc", None, None, "m", None, "prompt", "answer"))
    assert len(store) == 0
    with pytest.raises(UnknownResponseError, match=r"history is off on this server \(--history off\)"):
        store.history("abc", None)


def test_sqlite_path(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "h.db"
    with store_from_setting(f"sqlite:{path}", 60) as store:
        assert isinstance(store, SqliteStore) and store.path == path and store.location == f"sqlite:{path}"
    assert path.is_file()


def test_sqlite_path_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with store_from_setting("sqlite:~/conversations.sqlite3", 60) as store:
        assert isinstance(store, SqliteStore) and store.path == tmp_path / "conversations.sqlite3"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME places the user data directory on Linux")
def test_the_default_is_an_owner_only_file_in_the_user_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    expected = tmp_path / "share" / "mcp-lmstudio" / "history.sqlite3"
    assert default_history_path() == expected
    with store_from_setting(None) as store:
        assert isinstance(store, SqliteStore) and store.path == expected and store.ttl_s == DEFAULT_TTL_S == 604800
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600
    assert stat.S_IMODE(expected.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("setting", ["", "  ", "sqlite", "sqlite:", "sqlite:  ", "postgres://db", "memory:5", "on"])
def test_a_bad_setting_names_the_value_and_the_allowed_forms(setting: str) -> None:
    with pytest.raises(ValueError) as caught:
        store_from_setting(setting, 60)
    assert repr(setting) in str(caught.value)
    assert "'sqlite:PATH', 'memory' or 'off'" in str(caught.value)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_a_bad_ttl_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        store_from_setting("memory", ttl)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (604800, "7 days"),
        (86400, "1 day"),
        (3600, "1 hour"),
        (129600, "36 hours"),
        (5400, "90 minutes"),
        (60, "1 minute"),
        (45, "45 seconds"),
        (1, "1 second"),
        (0.5, "0.5 seconds"),
        (100000, "1.2 days"),
        (3600 * 24 * 365, "365 days"),
    ],
)
def test_describe_ttl(seconds: float, words: str) -> None:
    assert describe_ttl(seconds) == words


def test_owner_key_is_a_hash_of_the_header_never_the_header() -> None:
    assert owner_key(None) is None
    key = owner_key("Bearer s3cret")
    assert key == hashlib.sha256(b"Bearer s3cret").hexdigest() and "s3cret" not in key
    assert owner_key("Bearer other") != key and owner_key("") != key


def test_the_system_prompt_replayed_is_the_latest_one_set() -> None:
    def turn(system: str | None) -> StoredTurn:
        return StoredTurn("id", None, None, "m", system, "u", "a")

    assert effective_system([turn("first"), turn(None), turn("second"), turn(None)]) == "second"
    assert effective_system([turn("only"), turn(None)]) == "only"
    assert effective_system([turn(None), turn(None)]) is None
    assert effective_system([]) is None


def test_importing_the_package_loads_neither_mcp_nor_lmstudio_nor_logging() -> None:
    code = (
        "import sys, mcp_lmstudio.history\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'mcp', 'mcp_types', 'lmstudio', 'logging'}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert run.stdout.strip() == "[]"


def test_the_package_imports_only_the_standard_library_platformdirs_and_errors() -> None:
    allowed = set(sys.stdlib_module_names) - {"logging", "warnings"} | {"platformdirs", "__future__"}
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                assert {alias.name.split(".")[0] for alias in node.names} <= allowed, source.name
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert (node.module or "").split(".")[0] in allowed, source.name
                else:
                    assert node.level == 1 or node.module == "errors", f"{source.name}: ..{node.module}"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", source.name
