"""An LM Studio emulator for tests and demos, spoken to by the real LM Studio SDKs over real websockets.

It implements LM Studio's native websocket API as lmstudio-python 1.5 and lmstudio-js 2.x use it:

* `GET /lmstudio-greeting`, and websocket upgrades at `/llm`, `/embedding`, `/system`, `/files`,
  `/repository` (and LM Studio's other namespaces), each authenticated with the SDK's auth packet,
  optionally against an LM Studio API token (`api_token`);
* RPC and channel framing (`rpcCall` → `rpcResult`/`rpcError`; `channelCreate` → `channelSend`* →
  `channelClose`/`channelError`; client `cancel`); unknown endpoints get a `communicationWarning` and
  no reply, as in LM Studio;
* a catalogue of downloaded models (`EmulatedModel`, or a file of LM Studio `ModelInfo` objects) and
  separate loaded instances (`key`, `key:2`..., custom identifiers, per-instance context length, TTL,
  JIT loading with auto-evict), resolved by identifier, model key or path prefix as LM Studio does;
* `/llm`: `listLoaded`, `getOrLoad`, `loadModel`, `unloadModel`, `getModelInfo`, `getLoadConfig`,
  `countTokens`, `tokenize`, `applyPromptTemplate` (consistent with `promptTokensCount`), and `predict`:
  prompt-processing progress, one fragment per word-sized token (or scripted raw fragments), reasoning
  tagged as LM Studio tags it, tool calls, stop strings, max tokens, context overflow policies,
  JSON-schema structured output that satisfies the schema, presets, cancel → `userStopped`, parallel
  slots, and the full `success` packet with stats;
* `/embedding`: the same model endpoints plus `embedString` (deterministic bag-of-words vectors);
* `/repository` search and download over the catalogue; `/files` uploads; `/system` queries.

Quick use::

    async with LMStudioEmulator(reply="Hello!") as lms:
        async with lmstudio.AsyncClient(lms.api_host) as client:
            ...
        assert lms.predictions[0].history[-1]["role"] == "user"

From the command line: `python -m mcp_lmstudio.testing --port 1234 [--models FILE]`.
"""

from ._catalog import DEFAULT_MODELS, EmulatedModel, load_models_file
from ._embeddings import embed
from ._emulator import NAMESPACES, LMStudioEmulator
from ._instances import Instance
from ._records import PredictionRecord, Reply, ToolCall, UploadRecord, tool_round_trip
from ._schema import sample_for_schema
from ._thread import EmulatorThread

__all__ = [
    "DEFAULT_MODELS",
    "NAMESPACES",
    "EmulatedModel",
    "EmulatorThread",
    "Instance",
    "LMStudioEmulator",
    "PredictionRecord",
    "Reply",
    "ToolCall",
    "UploadRecord",
    "embed",
    "load_models_file",
    "sample_for_schema",
    "tool_round_trip",
]
