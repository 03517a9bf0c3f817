"""The layers, each a folder of `mcp_lmstudio`, and the one import rule each keeps.

Read from the source with `ast` (every import, at any depth, including those under TYPE_CHECKING), so that a
rule is broken the moment someone writes the import, not when a test happens to run it.

    models/      the model layer: the only package that imports `lmstudio`; never `mcp`
    server/      the MCP tools: never `lmstudio`, never a transport or the CLI
    transports/  stdio and HTTP: never `lmstudio`, never the CLI
    cli/         the command: never `lmstudio` (it goes through the model layer)
    files/       confined reading: neither SDK, nor any other layer
    history/     conversation storage: neither SDK, nor any other layer
    testing/     the LM Studio emulator: stands alone (it plays LM Studio; it must not lean on our client)
    (top level)  errors, types, text, settings: shared words; import no layer and no SDK
                 (`__init__` re-exports the model layer's public names; `__main__` runs the CLI)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mcp_lmstudio"
LAYERS = ("models", "server", "transports", "cli", "files", "history", "testing")
SDKS = ("lmstudio", "mcp", "mcp_types")

#: For each layer, the top-level names it must never import (SDKs, and `mcp_lmstudio.<layer>`).
FORBIDDEN: dict[str, set[str]] = {
    "models": {"mcp", "mcp_types", "mcp_lmstudio.server", "mcp_lmstudio.transports", "mcp_lmstudio.cli"},
    "server": {"lmstudio", "mcp_lmstudio.transports", "mcp_lmstudio.cli"},
    "transports": {"lmstudio", "mcp_lmstudio.cli", "mcp_lmstudio.models"},
    "cli": {"lmstudio"},
    "files": {"lmstudio", "mcp", "mcp_types", *(f"mcp_lmstudio.{layer}" for layer in LAYERS if layer != "files")},
    "history": {"lmstudio", "mcp", "mcp_types", *(f"mcp_lmstudio.{layer}" for layer in LAYERS if layer != "history")},
    "testing": {"lmstudio", "mcp", "mcp_types", *(f"mcp_lmstudio.{layer}" for layer in LAYERS if layer != "testing")},
    "": {"lmstudio", "mcp", "mcp_types", *(f"mcp_lmstudio.{layer}" for layer in LAYERS)},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, source: str | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file at `path` (or in `source`, as if it were there)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:  # `from .. import server` imports the layer itself
                yield node.lineno, f"{base}.{alias.name}"


#: The package's two entry points, and the one layer each may reach.
ENTRY_POINTS = {"__init__.py": "mcp_lmstudio.models", "__main__.py": "mcp_lmstudio.cli"}


def _layer_of(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first if first in LAYERS else ""


def _forbidden(path: Path) -> set[str]:
    layer = _layer_of(path)
    allowed = ENTRY_POINTS.get(path.name) if layer == "" and path.parent == PACKAGE else None
    return FORBIDDEN[layer] - {allowed} if allowed else FORBIDDEN[layer]


def _violations(path: Path, *, source: str | None = None) -> list[str]:
    forbidden = _forbidden(path)
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for line, name in _imports(path, source=source)
        if any(name == banned or name.startswith(banned + ".") for banned in forbidden)
    ]


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_each_module_keeps_its_layers_import_rule(path: Path) -> None:
    assert _violations(path) == [], "see the layer rules at the top of tests/architecture/test_layers.py"


def test_only_the_model_layer_imports_lmstudio() -> None:
    importers = {
        _layer_of(path) or "(top level)"
        for path in SOURCES
        for _, name in _imports(path)
        if name == "lmstudio" or name.startswith("lmstudio.")
    }
    assert importers == {"models"}


def test_the_rule_checker_catches_a_forbidden_import() -> None:
    """The checker itself can fail: a server module importing lmstudio, or the CLI, is reported."""
    probe = PACKAGE / "server" / "probe.py"  # never written: the source is checked as if it lived there
    source = "from __future__ import annotations\nimport lmstudio\nfrom ..cli import main\n"
    violations = _violations(probe, source=source)
    assert any(v.endswith("imports lmstudio") for v in violations)
    assert any(v.endswith("imports mcp_lmstudio.cli") for v in violations)


def test_no_module_is_past_about_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in SOURCES
        if "testing" not in p.parts and (n := len(p.read_text().splitlines())) > 420
    }
    assert long == {}
