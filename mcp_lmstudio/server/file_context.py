"""Files for the tools: read what `files` names into the user turn, and write the answer to `output_file`.

The reading and writing (and all of the confinement) is `mcp_lmstudio.files`; this module runs it in a
worker thread (file I/O never stalls the event loop), joins the files into the turn the model reads, and
checks `output_file` before anything is generated, so a call that cannot write its answer costs no tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import anyio

from ..files import (
    AllowedDirectories,
    FileBundle,
    NoAllowedDirectoriesError,
    OutputTarget,
    WrittenFile,
    check_output_target,
    read_files,
    write_answer,
)
from ..types import Chat, Image

__all__ = ["FileAccess", "narrowed_by_roots", "read_for_call", "with_files", "write_output"]

logger = logging.getLogger(__name__)

#: How long a client may take to list its roots before the call goes on with the configured directories.
ROOTS_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class FileAccess:
    """What the server's settings allow: the directories (`--allow-dir`) and whether to write (`--allow-write`)."""

    allowed: AllowedDirectories
    allow_write: bool


async def narrowed_by_roots(access: FileAccess, session: Any) -> FileAccess:
    """`access` narrowed to the client's roots, where the client offers them (2025-11-25 era `roots`).

    Roots only ever narrow the configured set (`AllowedDirectories.narrowed`); a client that does not offer
    them, or fails to list them in time, leaves it as configured. The 2026-07-28 revision deprecates roots
    (SEP-2577) in favour of server configuration, which `--allow-dir` is.
    """
    capabilities = getattr(session, "client_capabilities", None)
    if not access.allowed or capabilities is None or getattr(capabilities, "roots", None) is None:
        return access
    try:
        with anyio.fail_after(ROOTS_TIMEOUT_S):
            listed = await session.list_roots()
    except Exception as exc:  # any failure of the client's side leaves the configured set: never wider
        logger.info("The client did not list its roots (%s); using the allowed directories as configured", exc)
        return access
    return replace(access, allowed=access.allowed.narrowed([str(root.uri) for root in listed.roots]))


async def read_for_call(access: FileAccess, entries: list[str] | None) -> FileBundle | None:
    """The files a call names, read and confined (None when it names none).

    Raises:
        NoAllowedDirectoriesError: no directory is allowed.
        FileAccessError, FileReadError, FileLimitError: a refused entry (see `mcp_lmstudio.files`).
    """
    if not entries:
        return None
    if not access.allowed:
        raise NoAllowedDirectoriesError(roots=access.allowed.roots)
    return await anyio.to_thread.run_sync(read_files, entries, access.allowed)


async def output_target(access: FileAccess, entry: str | None, *, overwrite: bool) -> OutputTarget | None:
    """`output_file` checked before generating (None when not given).

    Raises:
        WriteNotAllowedError, NoAllowedDirectoriesError, FileAccessError, OutputFileError.
    """
    if entry is None:
        return None
    if not access.allowed and access.allow_write:
        raise NoAllowedDirectoriesError(field="output_file", roots=access.allowed.roots)
    return await anyio.to_thread.run_sync(
        lambda: check_output_target(entry, access.allowed, allow_write=access.allow_write, overwrite=overwrite)
    )


async def write_output(access: FileAccess, target: OutputTarget, text: str, *, overwrite: bool) -> WrittenFile:
    """Write `text` to the checked target atomically (see `mcp_lmstudio.files.write_answer`)."""
    return await anyio.to_thread.run_sync(
        lambda: write_answer(target.entry, text, access.allowed, allow_write=access.allow_write, overwrite=overwrite)
    )


def with_files(
    model_input: str | list[str | Image] | Chat, bundle: FileBundle | None
) -> str | list[str | Image] | Chat:
    """`model_input` with the files' text after the (last) user turn's text, and their images beside its own."""
    if bundle is None:
        return model_input
    if isinstance(model_input, Chat):
        messages = list(model_input.messages)
        last_user = max(i for i, message in enumerate(messages) if message.get("role") == "user")
        turn = dict(messages[last_user])
        turn["content"] = _joined(turn["content"], bundle)
        messages[last_user] = turn
        return Chat(messages)
    return _joined(model_input, bundle)


def _joined(content: str | list[str | Image], bundle: FileBundle) -> str | list[str | Image]:
    parts = [content] if isinstance(content, str) else list(content)
    text = "".join(part for part in parts if isinstance(part, str))
    images = [part for part in parts if isinstance(part, Image)] + [image for _, image in bundle.images]
    files_text = bundle.as_prompt_text()
    joined = f"{text}\n\n{files_text}" if files_text else text
    return [joined, *images] if images else joined
