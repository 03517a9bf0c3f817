"""What starting the server imports: `python -X importtime` of the stdio start path, and of `import mcp` alone.

    python benchmarks/startup.py    # also run by benchmarks/run.py

The server is started as a host starts it (`python -m mcp_lmstudio`, stdin and stdout pipes), with stdin closed
at once so that it exits after serving nothing. From `-X importtime`'s tree it reads the total import time, the
part under `mcp` (the top-most `mcp` and `mcp.*` imports with everything they import), and whether the HTTP
stack came in: our `mcp_lmstudio.transports.http` (stdio must not import it) and uvicorn and starlette (which
`import mcp` itself imports, upstream: modelcontextprotocol/python-sdk PR #3242 makes `import mcp` lazy).
Import times vary with the machine's load; each figure is the median of `runs` starts.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from dataclasses import dataclass

_ROW = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")
HTTP_TRANSPORT = "mcp_lmstudio.transports.http"
UPSTREAM_HTTP = ("uvicorn", "starlette")
START = [sys.executable, "-X", "importtime", "-m", "mcp_lmstudio", "--host", "127.0.0.1:9", "--history", "memory"]


@dataclass(frozen=True)
class Imports:
    """One `-X importtime` report: total and `mcp`'s share in milliseconds, and the modules imported."""

    total_ms: float
    mcp_ms: float
    modules: frozenset[str]

    def imported(self, name: str) -> bool:
        """Whether `name` (or a submodule of it) was imported."""
        return name in self.modules or any(module.startswith(name + ".") for module in self.modules)


def parse_importtime(text: str) -> Imports:
    """Read `python -X importtime`'s report (its stderr).

    Rows come children first, each indented two spaces deeper than its parent; a top-most `mcp` row's
    cumulative time covers everything imported while importing it.
    """
    rows = [(int(m[1]), int(m[2]), len(m[3]) // 2, m[4]) for m in map(_ROW.match, text.splitlines()) if m]
    total = sum(own for own, _cumulative, _depth, _name in rows)
    mcp = 0
    for index, (_own, cumulative, depth, name) in enumerate(rows):
        if _is_mcp(name) and not _inside_mcp(rows, index, depth):
            mcp += cumulative
    return Imports(total / 1000, mcp / 1000, frozenset(name for *_, name in rows))


def _is_mcp(name: str) -> bool:
    return name == "mcp" or name.startswith("mcp.")


def _inside_mcp(rows: list[tuple[int, int, int, str]], index: int, depth: int) -> bool:
    """Whether the row at `index` is nested in an `mcp` row (its ancestors come after it, shallower)."""
    for _own, _cumulative, later_depth, name in rows[index + 1 :]:
        if later_depth < depth:
            if _is_mcp(name):
                return True
            depth = later_depth
    return False


def stdio_start() -> Imports:
    """Start the server on stdio pipes, close its stdin at once, and read its import report."""
    done = subprocess.run(START, input=b"", capture_output=True, timeout=120, check=True)
    return parse_importtime(done.stderr.decode(errors="replace"))


def mcp_alone() -> Imports:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mcp"], capture_output=True, timeout=60)
    return parse_importtime(done.stderr.decode(errors="replace"))


@dataclass(frozen=True)
class Startup:
    total_ms: float
    mcp_ms: float
    mcp_alone_ms: float
    http_transport: bool
    upstream_http: tuple[str, ...]


def measure(runs: int = 3) -> Startup:
    starts = [stdio_start() for _ in range(runs)]
    alone = [mcp_alone() for _ in range(runs)]
    last = starts[-1]
    return Startup(
        total_ms=statistics.median(s.total_ms for s in starts),
        mcp_ms=statistics.median(s.mcp_ms for s in starts),
        mcp_alone_ms=statistics.median(a.total_ms for a in alone),
        http_transport=any(s.imported(HTTP_TRANSPORT) for s in starts),
        upstream_http=tuple(name for name in UPSTREAM_HTTP if last.imported(name)),
    )


def main() -> None:
    figures = measure()
    print(f"stdio start-up imports: {figures.total_ms:.0f} ms, of which under `mcp`: {figures.mcp_ms:.0f} ms")
    print(f"`import mcp` alone: {figures.mcp_alone_ms:.0f} ms")
    print(f"{HTTP_TRANSPORT} imported for stdio: {'yes' if figures.http_transport else 'no'}")
    print(f"imported by `mcp` itself (upstream): {', '.join(figures.upstream_http) or 'none'}")


if __name__ == "__main__":
    main()
