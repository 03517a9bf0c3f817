"""The benchmark's table says met or missed per target, shows a margin where the target is one, and whole bytes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(ROOT / "benchmarks"))  # as when run as a script: it imports its sibling hot_path
    spec = importlib.util.spec_from_file_location("benchmark_run", ROOT / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark_run"] = module
    spec.loader.exec_module(module)
    return module


def test_each_row_with_a_target_has_a_verdict(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    report = bench.Report()
    report.add("p50", 5.0, 6.0, "ms", bench.ratio_at_most(1.10), "p50")
    report.add("throughput", 100.0, 95.0, "req/s", bench.ratio_at_least(0.90), "tp")
    report.add("first text", 1.5, 3.4, "ms", bench.plus_at_most(3, "ms"), "ttft")
    report.add("stdout bytes", None, 34019, "B", None, "bytes")
    report.print()
    rows = {line.split("  ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["p50"].split()[-1] == "MISSED" and "1.20x" in rows["p50"]
    assert rows["throughput"].split()[-1] == "met"
    assert "+1.9 ms" in rows["first text"] and "x " not in rows["first text"] and rows["first text"].endswith("met")
    assert "34,019 B" in rows["stdout bytes"] and "34019.0" not in rows["stdout bytes"]
    assert report.data["p50"]["met"] is False and report.data["ttft"]["met"] is True


def test_cpu_time_of_a_process_is_read_from_proc(bench: ModuleType) -> None:
    import os

    assert bench.cpu_seconds(os.getpid()) > 0


def test_a_check_row_says_met_or_missed_and_a_note_row_says_neither(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    report = bench.Report()
    report.add("CPU per call", 8.0, 10.0, "ms", bench.ratio_at_most(1.25), "cpu")
    report.check("stdio start: our HTTP transport", "not imported", True, "not imported", "http")
    report.check("a failed check", "imported", False, "not imported", "bad")
    report.note("still imported by `mcp`", "uvicorn, starlette", "python-sdk PR #3242", "upstream")
    report.print()
    rows = {line.split("  ")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["CPU per call"].endswith("met") and "1.25x" in rows["CPU per call"]
    assert rows["stdio start: our HTTP transport"].endswith("met")
    assert rows["a failed check"].endswith("MISSED")
    assert "uvicorn, starlette" in rows["still imported by `mcp`"]
    assert rows["still imported by `mcp`"].rstrip().endswith("python-sdk PR #3242")
    assert report.data["http"]["met"] is True and report.data["bad"]["met"] is False


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   pydantic
import time:        50 |         50 |     starlette.types
import time:        20 |         70 |   starlette
import time:       300 |        470 | mcp
import time:        30 |         30 |     anyio._core
import time:        40 |         70 |   anyio
import time:        10 |         10 |     mcp.types
import time:         5 |         15 |   mcp.server
import time:        25 |        110 | mcp_lmstudio.server
import time:         7 |          7 | mcp_lmstudio.transports.stdio
"""


def test_the_import_report_counts_mcp_with_what_it_imports_once(bench: ModuleType) -> None:
    import startup

    imports = startup.parse_importtime(IMPORTTIME)
    assert imports.total_ms == pytest.approx(0.587)  # every module's own time, once
    assert imports.mcp_ms == pytest.approx(0.485)  # `mcp` (470) and `mcp.server` (15, not inside `mcp`)
    assert imports.imported("starlette") and imports.imported("mcp_lmstudio.transports")
    assert not imports.imported("uvicorn") and not imports.imported("mcp_lmstudio.transports.http")
