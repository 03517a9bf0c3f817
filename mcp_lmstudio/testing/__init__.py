"""An LM Studio emulator for tests and demos, spoken to by the real `lmstudio` SDK over real websockets.

It implements the parts of LM Studio's native websocket API that the Python SDK 1.5 uses for LLMs:

* `GET /lmstudio-greeting`, and websocket upgrades at `/llm`, `/embedding`, `/system`, `/files`,
  `/repository` (and LM Studio's other namespaces), each authenticated with the SDK's auth packet;
* RPC and channel framing (`rpcCall` → `rpcResult`/`rpcError`; `channelCreate` → `channelSend`* →
  `channelClose`/`channelError`; client `cancel`);
* `listLoaded`, `listDownloadedModels`, `getOrLoad` (already loaded, JIT load with progress, unknown
  key), `getModelInfo`, `unloadModel`, `countTokens`, `tokenize`, `getLoadConfig`, `uploadFileBase64`;
* `predict`: prompt-processing progress, one fragment per word-sized token (reasoning fragments tagged as
  LM Studio tags them), stop strings, max tokens, JSON-schema structured output that satisfies the
  schema, cancel → `userStopped`, and the full `success` packet with stats;
* unknown endpoints get an explicit `rpcError`/`channelError` (real LM Studio stays silent, which hangs
  the SDK; an emulator that hangs would only hide bugs).

Quick use::

    async with LMStudioEmulator(reply="Hello!") as lms:
        async with lmstudio.AsyncClient(lms.api_host) as client:
            ...
        assert lms.predictions[0].history[-1]["role"] == "user"

From the command line: `python -m mcp_lmstudio.testing --port 1234`.
"""

from ._catalog import DEFAULT_MODELS, EmulatedModel, PredictionRecord, Reply, UploadRecord, sample_for_schema
from ._emulator import NAMESPACES, LMStudioEmulator
from ._thread import EmulatorThread

__all__ = [
    "DEFAULT_MODELS",
    "NAMESPACES",
    "EmulatedModel",
    "EmulatorThread",
    "LMStudioEmulator",
    "PredictionRecord",
    "Reply",
    "UploadRecord",
    "sample_for_schema",
]
