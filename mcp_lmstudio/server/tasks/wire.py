"""MCP Tasks on the wire, in both protocol eras, over the tasks store.

2026-07-28 (`io.modelcontextprotocol/tasks`, SEP-2663; ext-tasks `specification/draft/tasks.md`): built on
mcp 2.3's extension API. `TasksExtension.intercept_tool_call` answers a `tools/call` that declares the
extension in its per-request client capabilities with a flat `CreateTaskResult` (`resultType: "task"`);
`tasks/get` returns the `DetailedTask` (with `result` or `error` inlined once terminal), `tasks/update` and
`tasks/cancel` answer an empty acknowledgement, each refused with -32021 when the request does not declare
the extension; `tasks/result` and `tasks/list` are not bound at this version, so they answer -32601.

2025-11-25 (experimental tasks, spec `basic/utilities/tasks`): mcp 2.3 cannot express it through the
extension API. Its `tools/call` result for that version is `CallToolResult` alone
(`mcp_types.methods.SERVER_RESULTS`; every `tasks/*` row is left out "deliberately"), and the runner validates
and sieves an interceptor's result against it, so a `CreateTaskResult` (`{"task": {...}}`) coming out of
`intercept_tool_call` becomes -32603 "Handler returned an invalid result" (python-sdk PR #3161, "Let a
legacy-era tools/call answer with a CreateTaskResult", open). `MCPServer` also has no way to declare the
`tasks` capability or a tool's `execution.taskSupport`, though the wire types carry both. So
`LegacyTasksMiddleware` (a `ServerMiddleware`, the SDK's public middleware API, which runs above that
validation) answers `tools/call` with `params.task`, and adds `capabilities.tasks` to the `initialize` result
and `execution` to `tools/list`. `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel` are extension
methods, as above. (The SDK's own SEP-2663 extension, python-sdk issue #2806 / PR #3005, is not in 2.3 and
would not serve the 2025-11-25 side either.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp.shared.inbound import MCP_NAME_HEADER, decode_header_value
from mcp_types import CallToolRequestParams, RequestParams
from mcp_types.jsonrpc import HEADER_MISMATCH, INVALID_PARAMS, METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from .store import TaskRecord, TaskRunner, TaskStoreFullError, UnknownTaskError

__all__ = [
    "LEGACY_TASKS_VERSION",
    "TASKS_EXTENSION",
    "HasTaskRunner",
    "LegacyTasksMiddleware",
    "TaskSupport",
    "TasksExtension",
]

logger = logging.getLogger(__name__)

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
RELATED_TASK = "io.modelcontextprotocol/related-task"
#: The one handshake-era version that has tasks.
LEGACY_TASKS_VERSION = "2025-11-25"
_BOTH_ERAS = frozenset({LEGACY_TASKS_VERSION, *MODERN_PROTOCOL_VERSIONS})

TaskSupport = Literal["optional", "required"]
"""A tool's `execution.taskSupport`: it may run as a task, or it must."""


class HasTaskRunner(Protocol):
    """What the server's lifespan must yield: the running `TaskRunner`, as `tasks`."""

    @property
    def tasks(self) -> TaskRunner: ...


class TaskIdParams(RequestParams):
    task_id: str = Field(alias="taskId")


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any] = Field(alias="inputResponses", default_factory=dict)


class ListTasksParams(RequestParams):
    cursor: str | None = None


def _runner(ctx: ServerRequestContext[Any, Any]) -> TaskRunner:
    state: HasTaskRunner = ctx.lifespan_context
    return state.tasks


def _owner(ctx: ServerRequestContext[Any, Any]) -> str:
    """Who may see a task: on HTTP, the MCP session (2025-11-25) and the bearer token; elsewhere the one
    client of this process (stdio) or of this in-memory connection (each has its own lifespan and store)."""
    headers = getattr(ctx.request, "headers", None)
    if headers is None:
        return "local"
    token = headers.get("authorization", "")
    digest = hashlib.sha256(token.encode()).hexdigest() if token else ""
    return f"http:{headers.get('mcp-session-id', '')}:{digest}"


def _is_modern(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def _declares_extension(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and TASKS_EXTENSION in capabilities.extensions)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_fields(record: TaskRecord, *, modern: bool, poll_interval_ms: int) -> dict[str, Any]:
    """The `Task` object: `ttlMs`/`pollIntervalMs` on 2026-07-28, `ttl`/`pollInterval` on 2025-11-25."""
    fields: dict[str, Any] = {
        "taskId": record.task_id,
        "status": record.status,
        "createdAt": _iso(record.created_at),
        "lastUpdatedAt": _iso(record.updated_at),
        "ttlMs" if modern else "ttl": int(record.ttl_s * 1000),
        "pollIntervalMs" if modern else "pollInterval": poll_interval_ms,
    }
    if record.status_message is not None:
        fields["statusMessage"] = record.status_message
    return fields


def _unknown_task(task_id: str) -> MCPError:
    return MCPError(
        code=INVALID_PARAMS,
        message=f"Failed to retrieve task: no task {task_id!r} (it never existed, expired, or belongs to another "
        "client). Start the call again.",
    )


def _check_routing_header(ctx: ServerRequestContext[Any, Any], task_id: str) -> None:
    """SEP-2663 routes `tasks/*` on HTTP by `Mcp-Name: <taskId>`; the SDK checks that header only for the spec's
    name-bearing methods, so check it here. A mismatch is refused (-32020, SEP-2243); a missing header is
    tolerated, because clients in use today omit it (fastmcp-tasks 4.1)."""
    headers = getattr(ctx.request, "headers", None)
    given = None if headers is None else headers.get(MCP_NAME_HEADER)
    if given is not None and decode_header_value(given) != task_id:
        raise MCPError(code=HEADER_MISMATCH, message=f"The {MCP_NAME_HEADER} header does not match taskId {task_id!r}.")


def _lookup(ctx: ServerRequestContext[Any, Any], task_id: str) -> TaskRecord:
    if _is_modern(ctx):
        _check_routing_header(ctx, task_id)
    try:
        return _runner(ctx).store.get(_owner(ctx), task_id)
    except UnknownTaskError:
        raise _unknown_task(task_id) from None


def _wire(result: HandlerResult) -> dict[str, Any]:
    if isinstance(result, BaseModel):
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)
    return dict(result or {})


def _first_text(result: Mapping[str, Any]) -> str:
    for block in result.get("content") or ():
        if isinstance(block, Mapping) and block.get("type") == "text":
            return str(block.get("text", "")).split("\n", 1)[0]
    return ""


class _TaskSession:
    """Stands in for the request's session while its work runs as a task.

    The request has been answered (with the task) by then, so progress cannot reach the caller; it becomes
    the task's status message instead, which `tasks/get` returns. Everything else is the real session.
    """

    def __init__(self, session: Any, record: TaskRecord) -> None:
        self._session = session
        self._record = record

    async def report_progress(self, progress: float, total: float | None = None, message: str | None = None) -> None:
        if message:
            self._record.note(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _as_task(ctx: ServerRequestContext[Any, Any], record: TaskRecord) -> ServerRequestContext[Any, Any]:
    # The SDK documents rewriting the context passed to `call_next` as the way to change what the handler
    # observes; the handler sees only `report_progress` differ.
    return dataclasses.replace(ctx, session=_TaskSession(ctx.session, record))  # type: ignore[arg-type]


class _Tasks:
    """What both eras share: which tools may run as tasks, and how to start one."""

    def __init__(self, tools: Mapping[str, TaskSupport], *, poll_interval_ms: int) -> None:
        self.tools = dict(tools)
        self.poll_interval_ms = poll_interval_ms

    def start(self, ctx: ServerRequestContext[Any, Any], name: str, call: CallNext, *, modern: bool) -> TaskRecord:
        async def work(record: TaskRecord) -> None:
            try:
                result = _wire(await call(_as_task(ctx, record)))
            except MCPError as exc:
                record.finish("failed", exc.message, error=exc.error.model_dump(mode="json", exclude_none=True))
                return
            if result.get("isError"):
                # 2026-07-28: a tool error is a completed call; 2025-11-25 calls it a failed task.
                record.finish("completed" if modern else "failed", _first_text(result), result=result)
            else:
                record.finish("completed", "The call completed.", result=result)

        record = _runner(ctx).start(_owner(ctx), name, work)
        record.status_message = f"Running {name}."
        logger.info("Task %s started: %s", record.task_id, name)
        return record


class TasksExtension(Extension):
    """`io.modelcontextprotocol/tasks` (SEP-2663), plus the 2025-11-25 `tasks/*` methods.

    `tools` maps each tool that may run as a task to its task support. The server's lifespan must yield an
    object with the running `TaskRunner` as `tasks` (`HasTaskRunner`).
    """

    identifier = TASKS_EXTENSION

    def __init__(self, tools: Mapping[str, TaskSupport], *, poll_interval_ms: int = 1000) -> None:
        self.shared = _Tasks(tools, poll_interval_ms=poll_interval_ms)

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        support = self.shared.tools.get(params.name)
        if support is None or not _is_modern(ctx):
            return await call_next(ctx)
        if not _declares_extension(ctx):
            if support == "required":
                require_client_extension(ctx, TASKS_EXTENSION)  # raises -32021 naming the extension
            return await call_next(ctx)
        try:
            record = self.shared.start(ctx, params.name, call_next, modern=True)
        except TaskStoreFullError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        return {"resultType": "task", **task_fields(record, modern=True, poll_interval_ms=self.shared.poll_interval_ms)}

    def methods(self) -> list[MethodBinding]:
        legacy = frozenset({LEGACY_TASKS_VERSION})
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get, protocol_versions=_BOTH_ERAS),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel, protocol_versions=_BOTH_ERAS),
            MethodBinding(
                "tasks/update", UpdateTaskParams, self._update, protocol_versions=frozenset(MODERN_PROTOCOL_VERSIONS)
            ),
            MethodBinding("tasks/result", TaskIdParams, self._result, protocol_versions=legacy),
            MethodBinding("tasks/list", ListTasksParams, self._list, protocol_versions=legacy),
        ]

    def _fields(self, record: TaskRecord, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
        return task_fields(record, modern=_is_modern(ctx), poll_interval_ms=self.shared.poll_interval_ms)

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        """`tasks/get`: the task; on 2026-07-28 with its `result` or `error` inlined once terminal."""
        if _is_modern(ctx):
            require_client_extension(ctx, TASKS_EXTENSION)
        record = _lookup(ctx, params.task_id)
        fields = self._fields(record, ctx)
        if _is_modern(ctx):
            if record.status == "completed" and record.result is not None:
                fields["result"] = record.result
            elif record.status == "failed" and record.error is not None:
                fields["error"] = record.error
        return fields

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> dict[str, Any]:
        """`tasks/update`: acknowledged. No tool here asks for input, so every response is for a key that is not
        outstanding, which the spec says to ignore."""
        require_client_extension(ctx, TASKS_EXTENSION)
        _lookup(ctx, params.task_id)
        return {}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        """`tasks/cancel`: stops the work (and its prediction in LM Studio).

        2026-07-28 answers an empty acknowledgement, also for a task already finished. 2025-11-25 answers the
        cancelled task, and -32602 for a task already in a terminal status, as that spec requires.
        """
        modern = _is_modern(ctx)
        if modern:
            require_client_extension(ctx, TASKS_EXTENSION)
        record = _lookup(ctx, params.task_id)
        if record.terminal and not modern:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Cannot cancel task {record.task_id!r}: it is already {record.status}.",
            )
        _runner(ctx).cancel(record)
        logger.info("Task %s cancelled by request", record.task_id)
        return {} if modern else self._fields(record, ctx)

    async def _result(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> dict[str, Any]:
        """`tasks/result` (2025-11-25): waits for the end, then returns exactly what the call would have: its
        result (tagged with the related task), or its JSON-RPC error."""
        record = _lookup(ctx, params.task_id)
        await record.done.wait()
        if record.error is not None and record.result is None:
            raise MCPError(code=record.error["code"], message=record.error["message"], data=record.error.get("data"))
        if record.result is None:  # cancelled: there is no result of the call to return
            raise MCPError(code=INVALID_PARAMS, message=f"Task {record.task_id!r} was cancelled; it has no result.")
        meta = {**(record.result.get("_meta") or {}), RELATED_TASK: {"taskId": record.task_id}}
        return {**record.result, "_meta": meta}

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: ListTasksParams) -> dict[str, Any]:
        """`tasks/list` (2025-11-25): this client's tasks only, in one page."""
        if params.cursor is not None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown cursor {params.cursor!r}: tasks/list has one page.")
        return {"tasks": [self._fields(record, ctx) for record in _runner(ctx).store.owned_by(_owner(ctx))]}


class LegacyTasksMiddleware:
    """The 2025-11-25 tasks surface the extension API cannot reach (see the module docstring)."""

    def __init__(self, extension: TasksExtension) -> None:
        self.shared = extension.shared

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "initialize":
            return self._advertise(await call_next(ctx))
        if ctx.protocol_version != LEGACY_TASKS_VERSION or ctx.request_id is None:
            return await call_next(ctx)
        if ctx.method == "tools/list":
            return self._mark_tools(await call_next(ctx))
        if ctx.method == "tools/call":
            return await self._call(ctx, call_next)
        return await call_next(ctx)

    def _advertise(self, result: HandlerResult) -> HandlerResult:
        if isinstance(result, dict) and result.get("protocolVersion") == LEGACY_TASKS_VERSION:
            capabilities = result.setdefault("capabilities", {})
            capabilities["tasks"] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
        return result

    def _mark_tools(self, result: HandlerResult) -> HandlerResult:
        if isinstance(result, dict):
            for tool in result.get("tools") or ():
                if (support := self.shared.tools.get(tool.get("name"))) is not None:
                    tool["execution"] = {"taskSupport": support}
        return result

    async def _call(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = dict(ctx.params or {})
        name = params.get("name")
        support = self.shared.tools.get(name) if isinstance(name, str) else None
        if "task" not in params:
            if support == "required":
                raise MCPError(code=METHOD_NOT_FOUND, message=f"Tool {name!r} must be called as a task (params.task).")
            return await call_next(ctx)
        if support is None:
            message = f"Tool {name!r} cannot run as a task; call it without `task`."
            raise MCPError(code=METHOD_NOT_FOUND, message=message)
        del params["task"]  # a requested ttl is overridden (the spec allows it): every task gets the server's TTL
        untasked = dataclasses.replace(ctx, params=params)
        try:
            record = self.shared.start(untasked, str(name), call_next, modern=False)
        except TaskStoreFullError as exc:
            return {"content": [{"type": "text", "text": str(exc)}], "isError": True}
        return {"task": task_fields(record, modern=False, poll_interval_ms=self.shared.poll_interval_ms)}
