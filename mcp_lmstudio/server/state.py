"""`AppState`: what the server's lifespan hands each tool call."""

from __future__ import annotations

from dataclasses import dataclass

from ..history import ConversationStore
from ..models.session import LMStudioSession
from .file_context import FileAccess
from .tasks import TaskRunner

__all__ = ["AppState"]


@dataclass
class AppState:
    """What the lifespan hands each tool call."""

    session: LMStudioSession
    tasks: TaskRunner
    """Runs the calls that clients start as MCP tasks."""
    history: ConversationStore
    """Where conversations live (`--history`)."""
    file_access: FileAccess
    """Where `files` may read and `output_file` write (`--allow-dir`, `--allow-write`)."""
