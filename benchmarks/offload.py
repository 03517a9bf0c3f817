"""Benchmark: what handing work over by reference saves the host, and what it costs the server.

    python benchmarks/offload.py            # 60 calls per timing figure
    python benchmarks/offload.py --quick    # 20 (CI; figures only, no timing assertions)

Host side (bytes of the JSON tool arguments the host's model must write, the dearest tokens it spends):
  (a) summarising one 20 KB file, (b) reviewing five files of 100 KB in all, (c) the fifth turn of a
  conversation over two files: before (content pasted into `prompt`, the history resent as `messages`) and
  after (`files` paths, `previous_response_id`). Target: at most 300 bytes after, whatever the files' size.
Server side, through the real server in memory on the bundled emulator (no per-token delay):
  reading, expanding and counting 1 MB of files (a directory of 50 files of 20 KB) per call, and one
  conversation turn's storage (SQLite and memory), each as the extra CPU and wall time per call over the
  same call without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mcp_lmstudio.cli.command import configure_logging
from mcp_lmstudio.server import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import EmulatedModel, LMStudioEmulator, Reply

HOST_TARGET_BYTES = 300


def _source(kilobytes: int, seed: str) -> str:
    line = f"def {seed}(value):  # a line of ordinary code, about sixty bytes long\n"
    return (line * (kilobytes * 1024 // len(line) + 1))[: kilobytes * 1024]


def host_bytes(arguments: dict[str, Any]) -> int:
    return len(json.dumps(arguments, ensure_ascii=False).encode())


def host_side() -> list[tuple[str, int, int]]:
    """(case, bytes before, bytes after) of the host's tool arguments."""
    one = _source(20, "one")
    five = {f"src/m{i}.py": _source(20, f"m{i}") for i in range(5)}
    pasted = "\n\n".join(f"File: {path}\n```\n{text}\n```" for path, text in five.items())
    two = {"src/a.py": _source(20, "a"), "src/b.py": _source(20, "b")}
    history: list[dict[str, str]] = [
        {"role": "user", "content": "Review these files.\n\n" + "\n\n".join(two.values())},
    ]
    for turn in range(1, 5):
        history.append({"role": "assistant", "content": "A review of about a hundred words. " * 20})
        history.append({"role": "user", "content": f"Follow-up question {turn}?"})
    return [
        (
            "(a) summarise one 20 KB file",
            host_bytes({"prompt": f"Summarise this file:\n\n{one}"}),
            host_bytes({"prompt": "Summarise this file", "files": ["src/big.py"]}),
        ),
        (
            "(b) review five files, 100 KB",
            host_bytes({"prompt": f"Review these files:\n\n{pasted}"}),
            host_bytes({"prompt": "Review these files", "files": ["src/m*.py"]}),
        ),
        (
            "(c) fifth turn over two files",
            host_bytes({"messages": history}),
            host_bytes({"prompt": "Follow-up question 4?", "previous_response_id": "x" * 32}),
        ),
    ]


async def per_call(call: Callable[[], Awaitable[Any]], calls: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per call, in this process (server, client and emulator alike)."""
    await call()  # warm: imports, the model handle, the first file-system walk
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        await call()
    return (time.process_time() - cpu) * 1000 / calls, (time.perf_counter() - wall) * 1000 / calls


async def server_side(calls: int) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / "src").mkdir(parents=True)
        for i in range(50):
            (project / "src" / f"m{i:02}.py").write_text(_source(20, f"m{i}"))
        # A model loaded with a context long enough for 1 MB of text, so the pre-flight counts it all and passes.
        long_context = EmulatedModel("long-context-8b", "Long Context 8B", max_context_length=2_000_000)
        model = dataclasses.replace(long_context, default_context_length=2_000_000)
        async with LMStudioEmulator(models=[model], reply=Reply("A short answer."), token_delay=0) as emulator:
            settings = Settings(host=emulator.api_host, timeout=60, allow_dirs=(str(project),), history="off")
            async with Client(create_server(settings)) as client:
                plain = await per_call(lambda: client.call_tool("generate", {"prompt": "hi"}), calls)

                async def with_files() -> None:
                    result = await client.call_tool("generate", {"prompt": "Review", "files": ["src"]})
                    assert not result.is_error, result

                files = await per_call(with_files, calls)
                rows.append(("plain call (history off)", *plain))
                rows.append(("+ read, expand, count 1 MB (50 files)", files[0] - plain[0], files[1] - plain[1]))
            rows.append(await _turn_cost(emulator, "memory", plain, calls))
            rows.append(await _turn_cost(emulator, f"sqlite:{Path(tmp) / 'history.sqlite3'}", plain, calls))
    return rows


async def _turn_cost(
    emulator: LMStudioEmulator, history: str, plain: tuple[float, float], calls: int
) -> tuple[str, float, float]:
    async with Client(create_server(Settings(host=emulator.api_host, timeout=60, history=history))) as client:
        first = await client.call_tool("generate", {"prompt": "start"})
        assert first.structured_content is not None
        root = first.structured_content["response_id"]

        async def turn() -> None:  # each a new branch from the root: the replayed history stays one turn
            result = await client.call_tool("generate", {"prompt": "hi", "previous_response_id": root})
            assert not result.is_error, result

        cpu, wall = await per_call(turn, calls)
    name = history.split(":")[0]
    return (f"+ one conversation turn's storage ({name})", cpu - plain[0], wall - plain[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 calls per timing figure instead of 60")
    calls = 20 if parser.parse_args().quick else 60
    configure_logging("WARNING")  # the SDK's connection chatter would drown the table
    print("Host's tool arguments (JSON bytes)")
    print(f"  {'case':<34} {'before':>9} {'after':>7}  target (after)")
    for case, before, after in host_side():
        verdict = "met" if after <= HOST_TARGET_BYTES else "MISSED"
        print(f"  {case:<34} {before:>9,} {after:>7,}  <= {HOST_TARGET_BYTES}: {verdict}")
    print(f"\nServer cost per call ({calls} calls each; CPU and wall of the whole process, ms)")
    for name, cpu, wall in anyio.run(server_side, calls):
        print(f"  {name:<42} CPU {cpu:7.2f}   wall {wall:7.2f}")


if __name__ == "__main__":
    main()
