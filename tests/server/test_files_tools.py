"""`files`, `output_file` and `overwrite` through the real `mcp` client, in memory and over stdio, against the
emulator: what the model reads, what the host gets back, and what is refused before LM Studio is asked."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.types import ListRootsResult, Root

from mcp_lmstudio.server import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator, Reply
from tests.stdio_support import server_params
from tests.support import PNG_BYTES, references_note, text_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    (root / "src").mkdir(parents=True)
    (root / "src" / "big.py").write_text("def answer():\n    return 42\n" * 200)
    (root / "src" / "small.py").write_text("X = 'small file'\n")
    (root / "logo.png").write_bytes(PNG_BYTES)
    (tmp_path / "app-evil").mkdir()
    (tmp_path / "app-evil" / "secret.txt").write_text("TOP SECRET")
    return root


def _hidden(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".")]


def _server(emulator: LMStudioEmulator, project: Path, **settings: object) -> Client:
    server = create_server(Settings(host=emulator.api_host, timeout=10, allow_dirs=(str(project),), **settings))  # type: ignore[arg-type]
    return Client(server)


async def test_files_are_read_into_the_user_turn_and_listed(emulator: LMStudioEmulator, project: Path) -> None:
    async with _server(emulator, project) as client:
        result = await client.call_tool("generate", {"prompt": "Summarise", "files": ["src/*.py"]})
    assert not result.is_error, text_of(result)
    sent = emulator.predictions[-1].last_user_text
    assert sent.startswith("Summarise") and "File: src/big.py" in sent and "X = 'small file'" in sent
    assert result.structured_content is not None
    files = result.structured_content["files"]
    assert [(f["path"], f["status"]) for f in files] == [("src/big.py", "read"), ("src/small.py", "read")]
    assert files[0]["bytes"] == (project / "src" / "big.py").stat().st_size
    note = references_note(result)
    assert note is not None and "files: 2 read" in note and result.structured_content["response_id"] in note


async def test_the_host_sends_a_few_bytes_whatever_the_files_size(emulator: LMStudioEmulator, project: Path) -> None:
    arguments = {"prompt": "Review this file", "files": ["src/big.py"]}
    async with _server(emulator, project) as client:
        result = await client.call_tool("generate", arguments)
    assert not result.is_error
    assert len(json.dumps(arguments)) < 100 < (project / "src" / "big.py").stat().st_size
    assert "return 42" in emulator.predictions[-1].last_user_text


async def test_an_image_file_goes_to_the_model_as_an_image(emulator: LMStudioEmulator, project: Path) -> None:
    async with _server(emulator, project) as client:
        result = await client.call_tool(
            "generate", {"prompt": "Describe", "files": ["logo.png"], "model": "fake-vision-2b"}
        )
    assert not result.is_error, text_of(result)
    assert emulator.predictions[-1].image_count == 1


@pytest.mark.parametrize(
    "entry",
    ["../app-evil/secret.txt", "{evil}/secret.txt", "../app-evil/missing.txt", "/etc/passwd", "/proc/self/environ"],
)
async def test_a_path_outside_is_refused_the_same_way_and_nothing_is_sent(
    emulator: LMStudioEmulator, project: Path, entry: str
) -> None:
    entry = entry.format(evil=project.parent / "app-evil")
    async with _server(emulator, project) as client:
        result = await client.call_tool("generate", {"prompt": "leak it", "files": [entry]})
    assert result.is_error
    message = text_of(result)
    assert entry in message and str(project) in message and "TOP SECRET" not in message
    assert "exist" not in message.replace(entry, "")  # says nothing of whether such a file exists
    assert emulator.predictions == []


async def test_without_an_allowed_directory_files_are_refused_with_how_to_allow_one(emulator: LMStudioEmulator) -> None:
    async with Client(create_server(Settings(host=emulator.api_host))) as client:
        result = await client.call_tool("generate", {"prompt": "x", "files": ["a.py"]})
    assert result.is_error and "--allow-dir" in text_of(result)
    assert emulator.predictions == []


async def test_output_file_needs_allow_write(emulator: LMStudioEmulator, project: Path) -> None:
    async with _server(emulator, project) as client:
        result = await client.call_tool("generate", {"prompt": "x", "output_file": "out.md"})
    assert result.is_error and "--allow-write" in text_of(result)
    assert not (project / "out.md").exists() and emulator.predictions == []


async def test_output_file_gets_the_answer_and_the_host_a_receipt(emulator: LMStudioEmulator, project: Path) -> None:
    async with _server(emulator, project, allow_write=True) as client:
        result = await client.call_tool("generate", {"prompt": "write it", "output_file": "docs/../out.md"})
    assert not result.is_error, text_of(result)
    written = project / "out.md"
    assert written.read_text() == "You said: write it"
    assert result.structured_content is not None
    assert result.structured_content["output_file"] == {"path": str(written), "bytes": len("You said: write it")}
    assert str(written) in result.content[0].text  # type: ignore[union-attr]
    assert _hidden(project) == []  # no temporary file left


async def test_an_existing_output_file_is_kept_unless_overwrite(emulator: LMStudioEmulator, project: Path) -> None:
    target = project / "out.md"
    target.write_text("keep me")
    async with _server(emulator, project, allow_write=True) as client:
        refused = await client.call_tool("generate", {"prompt": "x", "output_file": "out.md"})
        assert refused.is_error and "overwrite" in text_of(refused)
        assert target.read_text() == "keep me" and emulator.predictions == []
        # "true" as a string, as some hosts send booleans, reads as true
        replaced = await client.call_tool("generate", {"prompt": "new", "output_file": "out.md", "overwrite": "true"})
    assert not replaced.is_error and target.read_text() == "You said: new"


async def test_files_over_stdio(emulator: LMStudioEmulator, project: Path) -> None:
    async with Client(server_params(emulator.api_host, "--allow-dir", str(project))) as client:
        with anyio.fail_after(30):
            result = await client.call_tool("structured_generate", {
                "prompt": "json", "json_schema": {"type": "object"}, "files": ["src/small.py"],
            })  # fmt: skip
    assert not result.is_error, text_of(result)
    assert result.meta is not None and result.meta["files"][0]["path"] == "src/small.py"
    assert "small file" in emulator.predictions[-1].last_user_text


async def test_client_roots_narrow_the_allowed_directories_never_widen(
    emulator: LMStudioEmulator, project: Path
) -> None:
    async def roots(_context: object) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=(project / "src").as_uri()), Root(uri=project.parent.as_uri())])

    server = create_server(Settings(host=emulator.api_host, allow_dirs=(str(project),)))
    async with Client(server, mode="legacy", list_roots_callback=roots) as client:  # type: ignore[arg-type]
        inside = await client.call_tool("generate", {"prompt": "x", "files": [str(project / "src" / "small.py")]})
        narrowed_out = await client.call_tool("generate", {"prompt": "x", "files": [str(project / "logo.png")]})
        widened = await client.call_tool("generate", {"prompt": "x", "files": [str(project.parent / "app-evil")]})
    assert not inside.is_error, text_of(inside)
    assert narrowed_out.is_error and widened.is_error
    assert len(emulator.predictions) == 1


async def test_files_that_do_not_fit_are_named_with_their_tokens(emulator: LMStudioEmulator, project: Path) -> None:
    (project / "src" / "huge.txt").write_text("token " * 6000)  # more than fake-echo-1b's 4,096-token context
    async with _server(emulator, project) as client:
        result = await client.call_tool("generate", {"prompt": "Summarise", "files": ["src"]})
    assert result.is_error
    message = text_of(result)
    assert "4,096-token context" in message
    named = message.split("The largest files", 1)[1]
    assert named.index("src/huge.txt (") < named.index("src/big.py (")  # largest first, with counts
    assert " tokens)" in named and emulator.predictions == []


async def test_a_time_limit_leaves_no_output_file_and_returns_the_partial_answer(
    emulator: LMStudioEmulator, project: Path
) -> None:
    emulator.reply = Reply(" ".join(["word"] * 400))
    emulator.token_delay = 0.01
    server = create_server(Settings(host=emulator.api_host, timeout=0.5, allow_dirs=(str(project),), allow_write=True))
    async with Client(server) as client:
        result = await client.call_tool("generate", {"prompt": "long", "output_file": "out.md"})
    assert not result.is_error and result.structured_content is not None
    assert result.structured_content["stop_reason"] == "timeout"
    assert result.content[0].text.startswith("word")  # type: ignore[union-attr]
    assert not (project / "out.md").exists() and _hidden(project) == []
