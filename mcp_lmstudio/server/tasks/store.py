"""Where MCP tasks live while they run and after: a bounded, TTL-expiring, owner-scoped store, and the
runner that executes task work in the background of the server's lifespan.

Nothing here knows MCP's wire formats (see `wire.py`); this module only keeps state and runs work.

Memory bound: at most `max_tasks` records (default `MAX_TASKS`). A record costs about 1 KB plus its final
result, which is exactly the `CallToolResult` the call would have returned (the answer text: about 4 bytes
per generated token). When the store is full, expired records go first, then the record that finished
earliest is forgotten before its TTL (logged as a warning); when every record is still running, a new task
is refused with `TaskStoreFullError`.
"""

from __future__ import annotations

import contextvars
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

import anyio
from anyio.abc import TaskGroup

__all__ = [
    "INTERNAL_ERROR",
    "MAX_TASKS",
    "TaskRecord",
    "TaskRunner",
    "TaskStatus",
    "TaskStore",
    "TaskStoreFullError",
    "UnknownTaskError",
    "current_task",
]

logger = logging.getLogger(__name__)

TaskStatus = Literal["working", "input_required", "completed", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})

#: The most tasks one server process keeps (running and finished together).
MAX_TASKS = 1000
#: JSON-RPC "internal error", for a task whose work crashed.
INTERNAL_ERROR = -32603
#: How long past its own time limit a task's work may run before the runner stops it regardless.
_BACKSTOP_GRACE_S = 5.0

#: The task whose work is running in this context (None outside task work).
current_task: contextvars.ContextVar[TaskRecord | None] = contextvars.ContextVar("current_task", default=None)


class UnknownTaskError(LookupError):
    """No task with this id is visible to this caller: it never existed, it expired, or it is another's."""


class TaskStoreFullError(RuntimeError):
    """Every slot of the store holds a running task, so no new task can start."""


@dataclass(eq=False, slots=True)
class TaskRecord:
    """One task: its state, its final result or JSON-RPC error, and how to stop its work.

    Times: `created_at`/`updated_at` are wall-clock seconds since the epoch (for the wire's ISO 8601
    stamps); `expires` is on the monotonic clock.
    """

    task_id: str
    owner: str
    tool: str
    ttl_s: float
    time_limit_s: float
    expires: float
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    status: TaskStatus = "working"
    status_message: str | None = None
    result: dict[str, Any] | None = None
    """The final result in its wire form (e.g. a `CallToolResult`), once completed (or failed by `isError`)."""
    error: dict[str, Any] | None = None
    """The JSON-RPC error (`code`, `message`, `data`?) the call ended with, when it ended with one."""
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def note(self, message: str) -> None:
        """Record progress (phase, tokens so far) as the status message of a working task."""
        if not self.terminal and message != self.status_message:
            self.status_message = message
            self.updated_at = time.time()

    def finish(
        self,
        status: TaskStatus,
        message: str | None,
        *,
        result: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> bool:
        """Move to a terminal status once; later calls (e.g. work ending after a cancel) change nothing."""
        if self.terminal:
            return False
        self.status, self.status_message, self.result, self.error = status, message, result, error
        self.updated_at = time.time()
        self.done.set()
        return True


class TaskStore:
    """The tasks of one server process, by id, each visible only to the owner that created it.

    Every task lives `ttl_s` from its creation (the wire's `ttlMs`), then is forgotten; `ttl_s` is at least
    the task time limit plus the retention, so a finished task's result stays available for at least the
    retention. Expired records are dropped lazily, on every access, oldest first.
    """

    def __init__(self, *, ttl_s: float, time_limit_s: float, max_tasks: int = MAX_TASKS) -> None:
        self.ttl_s = ttl_s
        self.time_limit_s = time_limit_s
        self.max_tasks = max_tasks
        # Insertion order is creation order, and every task has the same TTL, so it is also expiry order.
        self._tasks: dict[str, TaskRecord] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def create(self, owner: str, tool: str) -> TaskRecord:
        """A new working task for `owner`.

        Raises:
            TaskStoreFullError: all `max_tasks` slots hold running tasks.
        """
        self._purge()
        if len(self._tasks) >= self.max_tasks:
            self._evict_one()
        # 192 random bits: a task id is as good as a bearer token for its result (SEP-2663 security).
        task_id = secrets.token_urlsafe(24)
        record = TaskRecord(
            task_id=task_id,
            owner=owner,
            tool=tool,
            ttl_s=self.ttl_s,
            time_limit_s=self.time_limit_s,
            expires=time.monotonic() + self.ttl_s,
        )
        self._tasks[task_id] = record
        return record

    def get(self, owner: str, task_id: str) -> TaskRecord:
        """The task `task_id` if `owner` created it and it has not expired.

        Raises:
            UnknownTaskError: unknown, expired, or created by another owner (indistinguishable on purpose).
        """
        self._purge()
        record = self._tasks.get(task_id)
        if record is None or record.owner != owner:
            raise UnknownTaskError(task_id)
        return record

    def owned_by(self, owner: str) -> list[TaskRecord]:
        """`owner`'s tasks, oldest first."""
        self._purge()
        return [record for record in self._tasks.values() if record.owner == owner]

    def running(self) -> list[TaskRecord]:
        return [record for record in self._tasks.values() if not record.terminal]

    def _purge(self) -> None:
        now = time.monotonic()
        while self._tasks:
            oldest = next(iter(self._tasks.values()))
            # A running task past its TTL is stopped by its time limit first; it goes once it has finished.
            if oldest.expires > now or not oldest.terminal:
                return
            del self._tasks[oldest.task_id]

    def _evict_one(self) -> None:
        finished = [record for record in self._tasks.values() if record.terminal]
        if not finished:
            raise TaskStoreFullError(
                f"{len(self._tasks)} tasks are already running, the most this server keeps; wait for one to "
                "finish or cancel one (tasks/cancel), then call again."
            )
        victim = min(finished, key=lambda record: record.updated_at)
        logger.warning("Task store full (%d): forgetting finished task %s early", self.max_tasks, victim.task_id)
        del self._tasks[victim.task_id]


TaskWork = Callable[[TaskRecord], Awaitable[None]]


class TaskRunner:
    """Runs task work in a task group that lives as long as the server's lifespan.

    Use as `async with TaskRunner(store) as runner:`; leaving it cancels every running task (and so its
    prediction in LM Studio) and waits for the work to unwind.
    """

    def __init__(self, store: TaskStore) -> None:
        self.store = store
        self._group: TaskGroup | None = None

    async def __aenter__(self) -> TaskRunner:
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._group is not None
        for record in self.store.running():
            record.finish("cancelled", "The server shut down before the task finished.")
            record.scope.cancel()
        group, self._group = self._group, None
        return await group.__aexit__(exc_type, exc, tb)

    def start(self, owner: str, tool: str, work: TaskWork) -> TaskRecord:
        """Create a task for `owner` and start `work(record)` in the background; return the record at once.

        `work` must `finish()` the record; if it ends without doing so, the task fails as an internal error.

        Raises:
            TaskStoreFullError: the store is full of running tasks.
            RuntimeError: the runner is not running (outside `async with`).
        """
        if self._group is None:
            raise RuntimeError("The task runner is not running: the server is starting up or shutting down.")
        record = self.store.create(owner, tool)
        self._group.start_soon(self._run, record, work, name=f"task {tool} {record.task_id[:8]}")
        return record

    def cancel(self, record: TaskRecord) -> None:
        """Mark a working task cancelled at once and stop its work (which cancels its prediction)."""
        if record.finish("cancelled", "The task was cancelled by request."):
            record.scope.cancel()

    async def _run(self, record: TaskRecord, work: TaskWork) -> None:
        token = current_task.set(record)
        try:
            with record.scope, anyio.move_on_after(record.time_limit_s + _BACKSTOP_GRACE_S) as backstop:
                await work(record)
            if backstop.cancelled_caught:
                record.finish(
                    "failed",
                    f"The task did not finish within its {record.time_limit_s:g} s time limit.",
                    error={"code": INTERNAL_ERROR, "message": "Task time limit exceeded"},
                )
        except Exception:  # top level of a background task: one task's crash must not end the server
            logger.exception("Task %s (%s) crashed", record.task_id, record.tool)
            record.finish("failed", "The task failed with an internal error.", error=_internal_error())
        finally:
            current_task.reset(token)
            record.finish("failed", "The task ended without a result.", error=_internal_error())


def _internal_error() -> dict[str, Any]:
    return {"code": INTERNAL_ERROR, "message": "Internal error"}
