"""MCP Tasks: run a tool call in the background and let the client poll for its result.

Both protocol eras are served (see `wire.py` for the wire and what the SDK could not express):

- 2026-07-28, the `io.modelcontextprotocol/tasks` extension (SEP-2663);
- 2025-11-25, the experimental tasks that VS Code implements.

`TasksExtension(tools)` goes in `MCPServer(extensions=[...])`, `LegacyTasksMiddleware(extension)` in
`MCPServer(middleware=[...])`, and the lifespan yields an object whose `tasks` is a running `TaskRunner`.
"""

from __future__ import annotations

from .store import MAX_TASKS, TaskRecord, TaskRunner, TaskStore, TaskStoreFullError, UnknownTaskError, current_task
from .wire import (
    LEGACY_TASKS_VERSION,
    TASKS_EXTENSION,
    HasTaskRunner,
    LegacyTasksMiddleware,
    TasksExtension,
    TaskSupport,
)

__all__ = [
    "LEGACY_TASKS_VERSION",
    "MAX_TASKS",
    "TASKS_EXTENSION",
    "HasTaskRunner",
    "LegacyTasksMiddleware",
    "TaskRecord",
    "TaskRunner",
    "TaskStore",
    "TaskStoreFullError",
    "TaskSupport",
    "TasksExtension",
    "UnknownTaskError",
    "current_task",
    "task_time_limit",
]


def task_time_limit() -> float | None:
    """The time limit (seconds) of the task whose work is running here, or None outside a task."""
    record = current_task.get()
    return None if record is None else record.time_limit_s
