"""Run the lmstudio SDK's own live test suite against the LM Studio emulator and score its fidelity.

    python scripts/sdk_suite.py [--target 95] [-k EXPR] [--verbose]

What it does:

1. Downloads the source distribution of the *installed* `lmstudio` version from PyPI with
   `pip download` (cached under `.sdk-suite/`, which git ignores; nothing of it is committed) and makes
   a virtual environment there with that `lmstudio` and the suite's test dependencies.
2. Starts `python -m mcp_lmstudio.testing --port 0 --models scripts/sdk_suite_models.json` (the
   catalogue the suite's README asks for: `llama-3.2-1b-instruct`, `mobilevlm_v2-1.7b`,
   `qwen2.5-7b-instruct-1m` and `text-embedding-nomic-embed-text-v1.5` loaded, `smollm2-135m-instruct`
   downloaded).
3. Points the suite at it without editing the suite: the tests only probe the SDK's default local
   ports (`lmstudio._api_server_ports.default_api_ports`), so a `sitecustomize.py` on `PYTHONPATH` sets
   that to the emulator's port, in the test process and in the plugin subprocesses it starts.
4. Runs `pytest -m lmstudio` (the tests written to run against a real LM Studio) and prints per-area
   pass counts, and the fidelity score over the tests whose verdict does not depend on what a real
   model writes (`MODEL_DEPENDENT` below lists the others and why). Exits 1 below `--target` percent.

The sdist lacks `examples/plugins`, which `test_plugin_examples.py` runs as development plugins (one
test per plugin: dice-tool, prompt-prefix, wikipedia in the SDK's repository). The runner supplies
three small plugins of its own with the same names (`scripts/sdk_suite_plugins/`: a tools provider, a
prompt preprocessor and a second tools provider, written for this project), so the tests exercise the
emulator's `/plugins` namespace the way the SDK's examples do. They are counted as the three tests.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import venv
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".sdk-suite"
MODELS_FILE = ROOT / "scripts" / "sdk_suite_models.json"
PLUGINS_DIR = ROOT / "scripts" / "sdk_suite_plugins"
#: The suite's test dependencies, as of its release (newer pytest turns its parametrisations into errors).
SUITE_DEPENDENCIES = ["pytest>=8.3,<8.5", "pytest-asyncio>=0.24,<1.2", "pytest-subtests>=0.13,<0.15", "pydantic>=2"]
#: Seconds between tokens: 100 tokens/s, the pace of a small model on a laptop. With no delay a short reply
#: is all sent before a client's `cancel` can arrive, which no real model allows.
TOKEN_DELAY = 0.01
#: Seconds the whole suite may take before it is stopped.
SUITE_TIMEOUT = 900

#: Tests whose verdict depends on what a real model writes, not on the protocol: (test name, reason).
#: A name matches both the `_async` and `_sync` variants; a `[...]` suffix narrows to parameters.
MODEL_DEPENDENT: dict[str, str] = {
    "test_respond_past_history": "asserts that the model repeats 'Hello, world!' when asked to",
    # RESPONSE_FORMATS[5] and [6] are the GBNF grammar settings (typed and dict).
    "test_complete_structured_response_format[format_type5]": "output must follow a GBNF grammar",
    "test_complete_structured_response_format[format_type6]": "output must follow a GBNF grammar",
    "test_complete_structured_config_gbnf": "output must follow a GBNF grammar",
    "test_tool_using_agent": "the model must add 123 and 3210 with the tool and say 3333",
    "test_tool_using_agent_callbacks": "the model must both say 'Hi' and call the tool in its first round",
    "test_tool_using_agent_error_handling": "the model must explain a division by zero in words",
    "test_connect_and_predict": "asserts that the model's reply to 'Hello' contains a question mark",
    "test_vlm_predict": "asserts that the model names the image's colour or says 'image'",
    "test_vlm_predict_image_param": "asserts that the model names the image's colour or says 'image'",
    "test_concurrent_predictions": "asserts that the model repeats a phrase (or refuses to)",
}

# Seeds `sys.modules` with the SDK's port-list module, so that nothing is imported early.
_SITECUSTOMIZE = '''"""Point the lmstudio SDK's default-port probe at the emulator (written by scripts/sdk_suite.py)."""
import os
import sys
import types

_port = os.environ.get("SDK_SUITE_EMULATOR_PORT")
if _port:
    _ports = types.ModuleType("lmstudio._api_server_ports")
    _ports.default_api_ports = (int(_port),)
    sys.modules[_ports.__name__] = _ports
'''


@dataclass(frozen=True)
class Case:
    """One test's outcome."""

    file: str
    name: str
    passed: bool
    message: str

    @property
    def area(self) -> str:
        stem = Path(self.file).stem.removeprefix("test_")
        return re.sub(r"_(async|sync)$", "", stem)

    @property
    def model_dependent(self) -> str | None:
        """Why the verdict depends on a real model's output, or None."""
        name = re.sub(r"_(async|sync)(?=\[|$)", "", self.name)
        return MODEL_DEPENDENT.get(name) or MODEL_DEPENDENT.get(name.split("[")[0])


def _run(command: list[str], **kwargs: object) -> None:
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def prepare(version: str) -> tuple[Path, Path]:
    """The unpacked sdist and the suite's Python, downloading and installing what is missing."""
    CACHE.mkdir(exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    source = CACHE / f"lmstudio-{version}"
    if not (source / "tests").is_dir():
        archive = CACHE / f"lmstudio-{version}.tar.gz"
        if not archive.exists():
            print(f"downloading the lmstudio {version} sdist from PyPI", flush=True)
            _run([sys.executable, "-m", "pip", "download", "-qq", "--no-deps", "--no-binary", ":all:",
                  f"lmstudio=={version}", "--dest", str(CACHE)])  # fmt: skip
        with tarfile.open(archive) as tar:
            tar.extractall(CACHE, filter="data")
    pins = hashlib.sha256(" ".join(SUITE_DEPENDENCIES).encode()).hexdigest()[:8]
    environment = CACHE / f"venv-{version}-{pins}"
    python = environment / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        print("creating the suite's virtual environment", flush=True)
        venv.create(environment, with_pip=True)
        _run([str(python), "-m", "pip", "install", "-qq", f"lmstudio=={version}", *SUITE_DEPENDENCIES])
    site = CACHE / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    plugins = source / "examples" / "plugins"
    shutil.rmtree(plugins, ignore_errors=True)
    if PLUGINS_DIR.is_dir():
        shutil.copytree(PLUGINS_DIR, plugins)
    else:
        plugins.mkdir(parents=True)
    return source, python


def start_emulator(command: list[str] | None) -> tuple[subprocess.Popen[str], int]:
    """Start the emulator (or `command`, which must print "listening on HOST:PORT" first); return it and its port."""
    command = command or [sys.executable, "-m", "mcp_lmstudio.testing", "--port", "0", "--models", str(MODELS_FILE),
                          "--token-delay", str(TOKEN_DELAY)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"listening on [\d.]+:(\d+)", line)
    if found is None:
        process.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return process, int(found.group(1))


def run_suite(source: Path, python: Path, port: int, keyword: str | None, verbose: bool) -> Path:
    """Run the live tests; return the JUnit XML report."""
    report = CACHE / "report.xml"
    report.unlink(missing_ok=True)
    env = os.environ | {
        "PYTHONPATH": str(CACHE / "site"),
        "SDK_SUITE_EMULATOR_PORT": str(port),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [str(python), "-m", "pytest", "tests", "-m", "lmstudio", "-p", "no:cacheprovider",
               f"--junitxml={report}", "-q" if verbose else "-qq", "--tb=line" if verbose else "--tb=no"]  # fmt: skip
    if keyword:
        command += ["-k", keyword]
    # The plugin tests stop their plugins with SIGINT, which a shell's background job (`cmd &`) ignores
    # and passes the ignoring on: undo that for the suite.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # Its own session, so that any process the suite leaves behind (a development plugin that did not
    # stop) can be ended with it.
    suite = subprocess.Popen(command, cwd=source, env=env, start_new_session=True)
    try:
        suite.wait(SUITE_TIMEOUT)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(suite.pid, signal.SIGKILL)
        suite.wait()
    return report


def read_report(report: Path) -> list[Case]:
    cases = []
    for testcase in ET.parse(report).getroot().iter("testcase"):
        problem = next((child for child in testcase if child.tag in ("failure", "error", "skipped")), None)
        file = testcase.get("file") or testcase.get("classname", "").replace(".", "/") + ".py"
        message = "" if problem is None else f"{problem.tag}: {(problem.get('message') or '').splitlines()[0:1]}"
        cases.append(Case(file, testcase.get("name", ""), problem is None, message))
    return cases


def summarise(cases: list[Case], target: float) -> bool:
    """Print per-area counts and the score; return whether the score reaches `target` percent."""
    areas: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        areas[case.area].append(case)
    print(f"\n{'area':<18}{'passed/all':>12}{'passed/model-independent':>27}")
    for area, group in sorted(areas.items()):
        independent = [case for case in group if case.model_dependent is None]
        print(
            f"{area:<18}{sum(c.passed for c in group):>5}/{len(group):<6}"
            f"{sum(c.passed for c in independent):>17}/{len(independent):<9}"
        )
    independent = [case for case in cases if case.model_dependent is None]
    passed = sum(case.passed for case in independent)
    score = 100 * passed / len(independent) if independent else 0.0
    print(f"\nall live tests: {sum(c.passed for c in cases)}/{len(cases)} passed")
    print(f"fidelity (tests whose verdict does not depend on a real model): {passed}/{len(independent)} = {score:.1f}%")
    for case in cases:
        if not case.passed:
            why = f"model-dependent: {case.model_dependent}" if case.model_dependent else case.message
            print(f"  FAILED {case.file}::{case.name}  ({why[:160]})")
    print(f"target {target}%: {'met' if score >= target else 'NOT met'}")
    return score >= target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=95.0, help="minimum fidelity percent (default 95)")
    parser.add_argument("-k", dest="keyword", default=None, help="only run tests matching this pytest -k expression")
    parser.add_argument("--verbose", action="store_true", help="show pytest's progress and failure lines")
    parser.add_argument(
        "--emulator-command",
        default=None,
        help="serve with this command instead (it must print 'listening on HOST:PORT' as its first line)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    version = importlib.metadata.version("lmstudio")
    source, python = prepare(version)
    emulator, port = start_emulator(shlex.split(args.emulator_command) if args.emulator_command else None)
    try:
        report = run_suite(source, python, port, args.keyword, args.verbose)
    finally:
        emulator.terminate()
        emulator.wait(10)
    print(f"lmstudio {version} live suite against the emulator on port {port}: {time.monotonic() - started:.0f} s")
    return 0 if summarise(read_report(report), args.target) else 1


if __name__ == "__main__":
    sys.exit(main())
