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

Realistic defaults, as LM Studio behaves (lmstudio-js's recorded heavy-test snapshots): a load without a
context length gets 4096 tokens (or the model's maximum when smaller, or the model's own
`default_context_length`); one above the maximum fails; a just-in-time load without a TTL gets 60 minutes;
embedding models carry no `paramsString`; a round that ends in tool calls reports `eosFound`; an unknown draft
model fails with `Cannot find model "<key>"`, and a known one adds the draft statistics to the stats.

Controls for tests that play an LM Studio newer than its SDK, or a failing one:

* `Reply(error=ErrorPayload(title, cause=..., suggestion=...))` (or a title string, or one of
  `IMAGES_UNSUPPORTED`, `SYSTEM_ROLE_UNSUPPORTED`, `MLX_CONTEXT_EXCEEDED`, `MODEL_CRASHED`): the prediction
  fails with that LM Studio error; `Reply(text, error_after=n)` fails after n fragments (an engine crash
  mid-stream, `MODEL_CRASHED` unless `error` says otherwise; `unload_on_error=True` unloads the instance too);
* `Reply(text, stop_reason="modelCrashed")`: any stop reason in the final `success` packet;
* `Reply(text, fragment_fields={...}, stats_fields={...})`: extra (unknown) fields in fragments and stats;
* `EmulatedModel(..., kind="drafter", loaded=False)`: a `"type": "drafter"` catalogue entry;
  `EmulatedModel(..., format="openvino")`: a format the SDK does not know; `EmulatedModel(..., extra={...})`:
  further `ModelInfo` fields, unknown ones included;
* `EmulatedModel(..., template_refuses_system=True)`: its template refuses a system message, as LM Studio
  reports it from `applyPromptTemplate` and `predict` (`SYSTEM_ROLE_UNSUPPORTED`).

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
from ._errors import IMAGES_UNSUPPORTED, MLX_CONTEXT_EXCEEDED, MODEL_CRASHED, SYSTEM_ROLE_UNSUPPORTED, ErrorPayload
from ._instances import Instance
from ._records import PredictionRecord, Reply, ToolCall, UploadRecord, tool_round_trip
from ._schema import sample_for_schema
from ._thread import EmulatorThread

__all__ = [
    "DEFAULT_MODELS",
    "IMAGES_UNSUPPORTED",
    "MLX_CONTEXT_EXCEEDED",
    "MODEL_CRASHED",
    "NAMESPACES",
    "SYSTEM_ROLE_UNSUPPORTED",
    "EmulatedModel",
    "EmulatorThread",
    "ErrorPayload",
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
