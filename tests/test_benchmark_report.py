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
