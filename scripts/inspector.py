"""Drive the server over stdio with the MCP Inspector CLI (@modelcontextprotocol/inspector 2.12.0).

    python scripts/inspector.py

Lists the tools and calls each one against the emulator, in both protocol eras, checking every result;
prints the transcript and exits non-zero on a mismatch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import emulator, npm_tools, server_command, tool_env

PET = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
CALLS: list[tuple[list[str], Any]] = [
    (["--method", "tools/list"], lambda r: sorted(t["name"] for t in r["tools"])
     == ["embed", "generate", "generate_stream", "list_models", "load_model", "structured_generate", "unload_model"]),
    (["--method", "tools/call", "--tool-name", "list_models"], lambda r: len(r["structuredContent"]["models"]) == 4),
    (["--method", "tools/call", "--tool-name", "generate", "--tool-arg", "prompt=hello"],
     lambda r: r["content"][0]["text"] == "You said: hello" and r["structuredContent"]["stop_reason"] == "eosFound"),
    (["--method", "tools/call", "--tool-name", "generate_stream", "--tool-arg", "prompt=stream"],
     lambda r: r["structuredContent"]["text"] == "You said: stream"),
    (["--method", "tools/call", "--tool-name", "structured_generate", "--tool-args-json",
      json.dumps({"prompt": "a pet", "json_schema": PET})], lambda r: r["structuredContent"] == {"name": "emulated"}),
]  # fmt: skip


def inspect(node: Path, bin_dir: Path, api_host: str, era: str, args: list[str]) -> dict[str, Any]:
    command = [str(node), str(bin_dir / "mcp-inspector"), "--cli", *server_command(api_host)]
    completed = subprocess.run(
        [*command, "--protocol-era", era, "-q", "--format", "json", *args],
        capture_output=True, text=True, env=tool_env(), timeout=120, check=False,
    )  # fmt: skip
    output = json.loads(completed.stdout)
    return dict(output.get("result", output))


def main() -> int:
    node, bin_dir = npm_tools()
    failures = 0
    with emulator() as api_host:
        for era in ("legacy", "modern"):
            for args, expect in CALLS:
                result = inspect(node, bin_dir, api_host, era, args)
                passed = bool(expect(result))
                failures += not passed
                shown = json.dumps(result.get("structuredContent", result))[:160]
                print(f"[{era}] {' '.join(args[1:4])}: {'ok' if passed else 'MISMATCH'}  {shown}")
    print(f"\n{len(CALLS) * 2 - failures}/{len(CALLS) * 2} Inspector calls returned what was expected.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
