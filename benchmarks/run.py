"""Benchmark: the `generate` tool over stdio (path B) against the direct lmstudio SDK (path A).

Both paths talk to the same LM Studio emulator, run as its own process, in two profiles: `fast` (0 ms per
token, ~64-token answers) and `paced` (10 ms per token, 50 ms of prompt processing). Prints one table and
writes JSON to benchmarks/results/.

    python benchmarks/run.py            # the full run (n = 200 latencies, 10,000-call RSS figure)
    python benchmarks/run.py --quick    # a smaller run for CI (no timing assertions anywhere)

Targets (issue 21), each a ratio measured in one run: on the `fast` profile the server's CPU per call at most
1.25x the SDK client's, sequential p50 at most 1.25x, 32 concurrent calls at least 0.85x the SDK's throughput
(`paced` keeps the tighter 1.10x and 0.90x: at real speeds the hop should vanish). Then the start-up imports
(benchmarks/startup.py): stdio must not import our HTTP transport; what `import mcp` costs is upstream.

It ends with benchmarks/hot_path.py: CPU per call of the checks on the hot path, measured in process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hot_path
import lmstudio
import local_models  # type: ignore[import-not-found]  # benchmarks/ is on sys.path when run as a script
import startup
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent
ANSWER = " ".join(f"word{i}" for i in range(64))
LONG_ANSWER = " ".join(f"w{i}" for i in range(2000))
MODEL = "fake-echo-1b"


@dataclass
class Sizes:
    latency_n: int
    throughput_requests: int
    ttft_n: int
    cold_starts: int
    soak_calls: int
    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    blocks: int = 4
    """Sequential calls alternate between the paths in this many blocks each, so that a change in the shared
    machine's load falls on both."""
    p50_target: float = 1.25
    throughput_target: float = 0.85
    cpu_target: float | None = 1.25


FULL = Sizes(latency_n=600, throughput_requests=512, ttft_n=100, cold_starts=10, soak_calls=10_000, blocks=6)
QUICK = Sizes(latency_n=60, throughput_requests=64, ttft_n=15, cold_starts=2, soak_calls=300, blocks=3)
# The paced profile takes ~0.7 s a call, so it measures fewer calls, and throughput only where it matters.
PACED = Sizes(
    latency_n=20,
    throughput_requests=128,
    ttft_n=20,
    cold_starts=0,
    soak_calls=0,
    concurrency=(32, 64),
    blocks=2,
    p50_target=1.10,
    throughput_target=0.90,
    cpu_target=None,
)
PACED_QUICK = Sizes(
    latency_n=6,
    throughput_requests=64,
    ttft_n=5,
    cold_starts=0,
    soak_calls=0,
    concurrency=(32, 64),
    blocks=2,
    p50_target=1.10,
    throughput_target=0.90,
    cpu_target=None,
)


@dataclass(frozen=True)
class Target:
    """A goal for the MCP figure: a ratio to the SDK's (`ratio<=`, `ratio>=`), a margin over it or over a floor
    (`plus<=`, in the row's unit), a bound on its own (`<=`), or a `note` shown without a verdict."""

    kind: str
    value: float
    text: str

    def met(self, sdk: float | None, mcp: float | None) -> bool | None:
        if self.kind == "note" or mcp is None or (sdk is None and self.kind != "<="):
            return None
        assert sdk is not None or self.kind == "<="
        if self.kind == "ratio<=":
            return mcp / sdk <= self.value if sdk else None
        if self.kind == "ratio>=":
            return mcp / sdk >= self.value if sdk else None
        if self.kind == "plus<=":
            return mcp - (sdk or 0.0) <= self.value
        return mcp <= self.value


def ratio_at_most(value: float) -> Target:
    return Target("ratio<=", value, f"<= {value:.2f}x")


def ratio_at_least(value: float) -> Target:
    return Target("ratio>=", value, f">= {value:.2f}x")


def plus_at_most(value: float, unit: str, base: str = "SDK") -> Target:
    return Target("plus<=", value, f"<= {base} + {value:g} {unit}")


@dataclass
class Report:
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(
        self, metric: str, sdk: float | None, mcp: float | None, unit: str, target: Target | str | None, key: str
    ) -> None:
        if isinstance(target, str):  # benchmarks/local_models.py's rows carry their target as text only
            target = Target("note", 0.0, target) if target else None
        met = target.met(sdk, mcp) if target else None
        verdict = "" if met is None else "met" if met else "MISSED"
        self.rows.append((metric, _fmt(sdk, unit), _fmt(mcp, unit), _compare(sdk, mcp, unit, target), *(
            (target.text, verdict) if target else ("", "")
        )))  # fmt: skip
        self.data[key] = {"sdk": sdk, "mcp": mcp, "unit": unit}
        if target:
            self.data[key] |= {"target": target.text, "met": met}

    def check(self, metric: str, shown: str, ok: bool, target: str, key: str) -> None:
        """A row that is a yes/no check rather than a figure."""
        self.rows.append((metric, "", shown, "", target, "met" if ok else "MISSED"))
        self.data[key] = {"shown": shown, "target": target, "met": ok}

    def note(self, metric: str, shown: str, remark: str, key: str) -> None:
        """A row that only says something (no figure, no verdict), with a remark where a target would be."""
        self.rows.append((metric, "", shown, "", remark, ""))
        self.data[key] = {"shown": shown, "remark": remark}

    def print(self) -> None:
        header = ("metric", "direct SDK", "MCP generate", "MCP vs SDK", "target", "verdict")
        widths = [max(len(str(row[i])) for row in [header, *self.rows]) for i in range(len(header))]
        for row in [header, tuple("-" * w for w in widths), *self.rows]:
            print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _compare(sdk: float | None, mcp: float | None, unit: str, target: Target | None) -> str:
    """The difference where the target is a margin (ms, MB), else the ratio."""
    if sdk is None or mcp is None:
        return ""
    if target is not None and target.kind == "plus<=":
        return f"{mcp - sdk:+.1f} {unit}"
    return f"{mcp / sdk:.2f}x" if sdk else ""


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# -- processes ------------------------------------------------------------------------------------------------


@asynccontextmanager
async def emulator_process(reply: str, token_delay: float, prompt_delay: float) -> AsyncIterator[str]:
    """Serve the emulator from its own process, so that it does not share a GIL with either path."""
    command = [sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", "--reply", reply]
    command += ["--token-delay", str(token_delay), "--prompt-delay", str(prompt_delay)]
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    banner = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    host = banner.split("listening on ")[1].split()[0]
    try:
        yield host
    finally:
        process.terminate()
        await process.wait()


#: The data directory (XDG_DATA_HOME) of every server a benchmark starts: their default SQLite history starts
#: empty in each run, and the user's own history file is left alone.
DATA_HOME = tempfile.TemporaryDirectory(prefix="mcp-lmstudio-bench-")
os.environ["XDG_DATA_HOME"] = DATA_HOME.name


def server_params(host: str) -> StdioServerParameters:
    args = ["-m", "mcp_lmstudio", "--host", host, "--log-level", "WARNING"]
    return StdioServerParameters(command=sys.executable, args=args, env=dict(os.environ))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def emulator_pid() -> int:
    """The emulator child of this process (`emulator_process`)."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    for pid in children:
        if "mcp_lmstudio.testing" in Path(f"/proc/{pid}/cmdline").read_text():
            return int(pid)
    raise RuntimeError("emulator process not found")


def server_pid() -> int:
    """The newest `python -m mcp_lmstudio` child of this process."""
    children = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
    for pid in reversed(children):
        if "mcp_lmstudio\0--host" in Path(f"/proc/{pid}/cmdline").read_text():
            return int(pid)
    raise RuntimeError("server process not found")


# -- measurements -------------------------------------------------------------------------------------------


async def latencies(call: Callable[[int], Awaitable[Any]], n: int) -> list[float]:
    samples = []
    for index in range(n):
        started = time.perf_counter()
        await call(index)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


@dataclass
class Sequential:
    """Latencies (ms) and CPU per call (ms) of both paths, measured in alternating blocks."""

    direct: list[float] = field(default_factory=list)
    tool: list[float] = field(default_factory=list)
    direct_cpu_s: float = 0.0
    tool_cpu_s: float = 0.0


async def sequential(
    direct: Callable[[int], Awaitable[Any]], tool: Callable[[int], Awaitable[Any]], server: int, sizes: Sizes
) -> Sequential:
    """`latency_n` calls on each path, in `blocks` alternating blocks. CPU time is steadier than wall time on a
    shared machine: the SDK client's own process for the direct path, the server process for MCP (what the hop
    costs on top of the SDK the server also runs)."""
    out = Sequential()
    per_block = max(1, sizes.latency_n // sizes.blocks)
    for _block in range(sizes.blocks):
        before = time.process_time()
        out.direct += await latencies(direct, per_block)
        out.direct_cpu_s += time.process_time() - before
        server_before = cpu_seconds(server)
        out.tool += await latencies(tool, per_block)
        out.tool_cpu_s += cpu_seconds(server) - server_before
    return out


async def throughput(call: Callable[[int], Awaitable[Any]], concurrency: int, requests: int) -> float:
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            await call(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def sdk_first_fragment(client: lmstudio.AsyncClient) -> float:
    started = time.perf_counter()
    stream = await (await client.llm.model(MODEL)).respond_stream("first fragment?")
    first = None
    async for _fragment in stream:
        if first is None:
            first = (time.perf_counter() - started) * 1000
    assert first is not None
    return first


async def mcp_first_text(client: Client) -> float:
    started = time.perf_counter()
    first: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        if progress >= 1 and message and not first:
            first.append((time.perf_counter() - started) * 1000)

    await client.call_tool("generate_stream", {"prompt": "first fragment?"}, progress_callback=on_progress)
    return first[0]


async def measure_profile(name: str, host: str, sizes: Sizes, report: Report) -> None:
    async with lmstudio.AsyncClient(host) as sdk, Client(server_params(host)) as mcp:

        async def direct(index: int) -> str:  # the seed's way: resolve the model, then respond
            return (await (await sdk.llm.model(MODEL)).respond(f"prompt {index}")).content

        async def tool(index: int) -> Any:
            result = await mcp.call_tool("generate", {"prompt": f"prompt {index}", "model": MODEL})
            assert not result.is_error, result
            return result

        for index in range(10):  # connect both paths, and warm them, before measuring
            await direct(index), await tool(index)
        server = server_pid()
        runs = await sequential(direct, tool, server, sizes)
        a, b = runs.direct, runs.tool
        client_cpu, server_cpu = runs.direct_cpu_s / len(a) * 1000, runs.tool_cpu_s / len(b) * 1000
        p50, p95 = f"[{name}] sequential p50", f"[{name}] sequential p95"
        report.add(p50, percentile(a, 50), percentile(b, 50), "ms", ratio_at_most(sizes.p50_target), f"{name}.p50")
        report.add(p95, percentile(a, 95), percentile(b, 95), "ms", None, f"{name}.p95")
        cpu_target = ratio_at_most(sizes.cpu_target) if sizes.cpu_target else None
        cpu = f"[{name}] CPU per call (SDK client / server)"
        report.add(cpu, client_cpu, server_cpu, "ms", cpu_target, f"{name}.cpu")
        report.data[f"{name}.cpu"]["calls"] = len(b)
        for level in sizes.concurrency:
            before = process_cpu(server)
            ta = await throughput(direct, level, sizes.throughput_requests)
            middle = process_cpu(server)
            tb = await throughput(tool, level, sizes.throughput_requests)
            after = process_cpu(server)
            target = ratio_at_least(sizes.throughput_target) if level >= 32 else None
            report.add(f"[{name}] throughput c={level}", ta, tb, "req/s", target, f"{name}.throughput.c{level}")
            if level == 32:
                report_concurrent_cpu(report, name, before, middle, after, sizes.throughput_requests)
        fa = [await sdk_first_fragment(sdk) for _ in range(sizes.ttft_n)]
        fb = [await mcp_first_text(mcp) for _ in range(sizes.ttft_n)]
        first = f"[{name}] first text p50"
        report.add(first, percentile(fa, 50), percentile(fb, 50), "ms", plus_at_most(3, "ms"), f"{name}.ttft")


@dataclass(frozen=True)
class ProcessCpu:
    """CPU seconds used so far by the benchmark (the clients), the server and the emulator."""

    client: float
    server: float
    emulator: float


def process_cpu(server: int) -> ProcessCpu:
    return ProcessCpu(time.process_time(), cpu_seconds(server), cpu_seconds(emulator_pid()))


def report_concurrent_cpu(
    report: Report, name: str, before: ProcessCpu, middle: ProcessCpu, after: ProcessCpu, requests: int
) -> None:
    """CPU per call at 32 concurrent calls: the server's beside the SDK client's (one process each, which bounds
    the throughput), and the three processes together (what bounds it when they share fewer cores than three)."""
    per_call = 1000 / requests
    sdk_client = (middle.client - before.client) * per_call
    server = (after.server - middle.server) * per_call
    report.add(f"[{name}] c=32 CPU per call (SDK client / server)", sdk_client, server, "ms", None, f"{name}.cpu.c32")
    sdk_all = sdk_client + (middle.emulator - before.emulator) * per_call
    mcp_all = server + ((after.client - middle.client) + (after.emulator - middle.emulator)) * per_call
    report.add(f"[{name}] c=32 CPU per call, all processes", sdk_all, mcp_all, "ms", None, f"{name}.cpu.c32.all")
    report.data[f"{name}.cpu.c32.all"]["cores"] = os.cpu_count()


async def python_output(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(sys.executable, *args, stdout=subprocess.PIPE)
    out, _ = await process.communicate()
    return out.decode()


FLOOR_RSS_CODE = "import mcp, lmstudio, re; print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1])"


async def measure_rss(host: str, sizes: Sizes, report: Report) -> None:
    floor = int(await python_output("-c", FLOOR_RSS_CODE)) / 1024
    async with Client(server_params(host)) as mcp:
        for index in range(sizes.soak_calls):
            await mcp.call_tool("generate", {"prompt": f"soak {index}"})
        after = rss_mb(server_pid())
    target = plus_at_most(15, "MB", "floor")
    report.add(f"server RSS after {sizes.soak_calls:,} calls (floor: imports)", floor, after, "MB", target, "rss")
    report.data["rss"]["growth_over_floor_mb"] = after - floor


async def measure_stream(host: str, report: Report, label: str) -> None:
    """Notifications per second and stdout bytes for one long stream, through a raw JSON-RPC session."""
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "mcp_lmstudio", "--host", host, "--log-level", "WARNING"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        limit=2**24,
    )
    assert process.stdin is not None and process.stdout is not None
    stdout_bytes = 0

    async def send(message: dict[str, Any]) -> None:
        assert process.stdin is not None
        process.stdin.write(json.dumps(message).encode() + b"\n")
        await process.stdin.drain()

    async def receive() -> dict[str, Any]:
        nonlocal stdout_bytes
        assert process.stdout is not None
        line = await process.stdout.readline()
        stdout_bytes += len(line)
        return json.loads(line)

    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}
    await send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
    await receive()
    await send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    stdout_bytes = 0
    call = {"name": "generate_stream", "arguments": {"prompt": "long"}, "_meta": {"progressToken": "t"}}
    started = time.perf_counter()
    await send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
    texts, notifications = [], 0
    while True:
        message = await receive()
        if message.get("id") == 2:
            break
        notifications += 1
        if message["params"]["progress"] >= 1:
            texts.append(message["params"].get("message", ""))
    elapsed = time.perf_counter() - started
    process.stdin.close()
    await process.wait()
    final = message["result"]["structuredContent"]["text"]
    intact = "".join(texts) == final == LONG_ANSWER
    report.add(
        f"[{label}] 2,000-token stream: notifications/s",
        None,
        notifications / elapsed,
        "/s",
        Target("<=", 50, "<= 50/s"),
        f"{label}.stream_rate",
    )
    report.add(f"[{label}] 2,000-token stream: stdout bytes", None, stdout_bytes, "B", None, f"{label}.stream_bytes")
    report.data[f"{label}.stream_rate"] |= {"notifications": notifications, "seconds": elapsed, "text_intact": intact}
    if not intact:
        print("STREAMED TEXT DIFFERS FROM THE FINAL TEXT", file=sys.stderr)


async def cold_start_seconds(host: str) -> float:
    started = time.perf_counter()
    async with Client(server_params(host)) as mcp:
        await mcp.list_tools()
        return time.perf_counter() - started


async def import_floor_seconds() -> float:
    started = time.perf_counter()
    await python_output("-c", "import mcp.server.mcpserver")
    return time.perf_counter() - started


async def measure_cold_start(host: str, sizes: Sizes, report: Report) -> None:
    floor = statistics.median([await import_floor_seconds() for _ in range(sizes.cold_starts)]) * 1000
    up = statistics.median([await cold_start_seconds(host) for _ in range(sizes.cold_starts)]) * 1000
    down = statistics.median([await cold_start_seconds("127.0.0.1:9") for _ in range(sizes.cold_starts)]) * 1000
    target = plus_at_most(100, "ms", "floor")
    report.add("cold start, LM Studio up (floor: import)", floor, up, "ms", target, "cold_start_up")
    report.add("cold start, LM Studio down (floor: import)", floor, down, "ms", target, "cold_start_down")


def measure_startup(report: Report, quick: bool) -> None:
    """Start-up imports on stdio (benchmarks/startup.py): the total beside `mcp`'s share, and the HTTP stack."""
    figures = startup.measure(runs=1 if quick else 5)
    report.add("stdio start-up imports (floor: under `mcp`)", figures.mcp_ms, figures.total_ms, "ms", None, "startup")
    report.data["startup"] |= {"mcp_alone_ms": figures.mcp_alone_ms, "upstream_http": list(figures.upstream_http)}
    report.add("  for scale: `import mcp` alone", None, figures.mcp_alone_ms, "ms", None, "import_mcp")
    imported = "imported" if figures.http_transport else "not imported"
    ok = not figures.http_transport
    report.check("stdio start: our HTTP transport", imported, ok, "not imported", "startup_http")
    upstream = ", ".join(figures.upstream_http) or "none"
    report.note("  imported by `mcp` itself (upstream)", upstream, "python-sdk PR #3242", "startup_upstream")


async def main(quick: bool) -> Report:
    sizes = QUICK if quick else FULL
    report = Report()
    report.data["meta"] = {"quick": quick, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    async with emulator_process(ANSWER, 0.0, 0.0) as host:
        await measure_profile("fast", host, sizes, report)
        await measure_cold_start(host, sizes, report)
        await measure_rss(host, sizes, report)
    async with emulator_process(LONG_ANSWER, 0.0, 0.0) as host:
        await measure_stream(host, report, "fast")
    async with emulator_process(ANSWER, 0.01, 0.05) as host:
        await measure_profile("paced", host, PACED_QUICK if quick else PACED, report)
    # Issue 11: pre-flight cost, think_first overhead, 32 calls on 4 slots (benchmarks/local_models.py).
    report.data["slots"] = await local_models.measure(report, quick)
    measure_startup(report, quick)
    return report


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smaller run (CI)")
    parser.add_argument("--output", type=Path, default=ROOT / "results", help="where to write the JSON")
    args = parser.parse_args()
    report = asyncio.run(main(args.quick))
    report.print()
    print()
    hot_path.main()  # CPU per call of the per-call and per-fragment checks, in process
    report.data["hot_path_us"] = {name.strip(): round(us, 3) for name, us, _per in hot_path.measure()}
    args.output.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    report.data["meta"]["commit"] = commit.strip()
    path = args.output / ("quick.json" if args.quick else "latest.json")
    path.write_text(json.dumps(report.data, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path}")


if __name__ == "__main__":
    cli()
