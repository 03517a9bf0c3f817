"""The package's public names: each listed once (`mcp_lmstudio._EXPORTS`), importable, and seen by type checkers."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mcp_lmstudio

PUBLIC = [
    "LMStudio",
    "AsyncLMStudio",
    "from_lmstudio",
    "LMStudioTypeAdapter",
    "Chat",
    "Image",
    "Regex",
    "CFG",
    "JsonSchema",
]


@pytest.mark.parametrize("name", sorted(mcp_lmstudio._EXPORTS))
def test_each_export_resolves_to_its_module(name: str) -> None:
    module = importlib.import_module(f"mcp_lmstudio.{mcp_lmstudio._EXPORTS[name]}")
    assert getattr(mcp_lmstudio, name) is getattr(module, name)


def test_the_contracts_names_stay_public() -> None:
    assert {*PUBLIC, "JsonSchema"} <= set(mcp_lmstudio.__all__)
    from mcp_lmstudio.models import AsyncLMStudio

    assert AsyncLMStudio is mcp_lmstudio.AsyncLMStudio


def test_type_checkers_see_the_same_names_from_the_same_modules() -> None:
    tree = ast.parse(Path(mcp_lmstudio.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
    seen = {
        alias.name: (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == mcp_lmstudio._EXPORTS
