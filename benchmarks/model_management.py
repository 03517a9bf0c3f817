"""Benchmark: a `load_model` call's overhead, against the bare lmstudio SDK doing the same.

    python benchmarks/model_management.py            # 60 pairs
    python benchmarks/model_management.py --quick    # 20 (CI; figures only, no timing assertions)

One pair is a load of a new instance and its unload, on the bundled emulator with no load delay (so that what is
timed is the work around the load, not the load): through the real server in memory (the `load_model` and
`unload_model` tools, with their checks: the model exists, the context fits, the instance is listed back) and
through the bare SDK (`client.llm.load_new_instance` and `client.llm.unload`). CPU and wall time are the whole
process's (server, client and emulator alike); the difference between the two rows is the server's overhead.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import lmstudio
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mcp_lmstudio.cli.command import configure_logging
from mcp_lmstudio.server import create_server
from mcp_lmstudio.settings import Settings
from mcp_lmstudio.testing import LMStudioEmulator

MODEL, CONTEXT = "fake-unloaded-7b", 8192


async def per_pair(pair: Callable[[], Awaitable[Any]], pairs: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per load+unload pair."""
    await pair()  # warm: imports, connections
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(pairs):
        await pair()
    return (time.process_time() - cpu) * 1000 / pairs, (time.perf_counter() - wall) * 1000 / pairs


async def measure(pairs: int) -> list[tuple[str, float, float]]:
    async with LMStudioEmulator(load_delay=0) as emulator:
        async with lmstudio.AsyncClient(emulator.api_host) as sdk:

            async def bare() -> None:
                llm = await sdk.llm.load_new_instance(MODEL, "bench", ttl=None, config={"contextLength": CONTEXT})
                await sdk.llm.unload(llm.identifier)

            sdk_cost = await per_pair(bare, pairs)
        settings = Settings(host=emulator.api_host, timeout=60, history="off")
        async with Client(create_server(settings)) as client:

            async def through_the_server() -> None:
                arguments = {"model": MODEL, "identifier": "bench", "context_length": CONTEXT}
                loaded = await client.call_tool("load_model", arguments)
                assert not loaded.is_error, loaded
                unloaded = await client.call_tool("unload_model", {"identifier": "bench"})
                assert not unloaded.is_error, unloaded

            server_cost = await per_pair(through_the_server, pairs)
    return [
        ("bare SDK: load_new_instance + unload", *sdk_cost),
        ("server: load_model + unload_model", *server_cost),
        ("overhead of the server (difference)", server_cost[0] - sdk_cost[0], server_cost[1] - sdk_cost[1]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 pairs instead of 60")
    pairs = 20 if parser.parse_args().quick else 60
    configure_logging("WARNING")  # the SDK's connection chatter would drown the table
    print(f"A load_model call's overhead: {pairs} load + unload pairs of {MODEL} on the emulator (load_delay 0)")
    print("(CPU and wall of the whole process per pair, ms)")
    for name, cpu, wall in anyio.run(measure, pairs):
        print(f"  {name:<40} CPU {cpu:7.2f}   wall {wall:7.2f}")


if __name__ == "__main__":
    main()
