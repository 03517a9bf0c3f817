"""Reading the files of a `files` argument, within limits, into what the model gets.

Limits per call: one file over MAX_FILE_BYTES, more than MAX_FILES files, or more than MAX_TOTAL_BYTES in
all. A file named explicitly over a limit refuses the call (FileLimitError, with the numbers and the fix);
a file found by expansion beyond a limit is skipped and listed. Explicitly named files are counted first,
so files found by expansion never crowd them out. No file is read past its limit (bounded reads), and
files skipped for size are never opened.

Synchronous: the caller runs it in a worker thread. It never blocks on a FIFO or device (see confinement).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..types import Image
from .confinement import AllowedDirectories, open_confined
from .content import Kind, classify
from .errors import FileLimitError, FileReadError, NoAllowedDirectoriesError
from .expansion import Candidate, expand
from .names import printable

__all__ = ["MAX_FILES", "MAX_FILE_BYTES", "MAX_TOTAL_BYTES", "FileBundle", "FileRecord", "read_files"]

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_FILES = 200
MAX_TOTAL_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file considered. `path` is relative to the first allowed directory when inside it, else absolute;
    `bytes` its size on disk (0 when it was never opened); `reason` why it was skipped, or a note on a read."""

    path: str
    bytes: int
    status: Literal["read", "skipped"]
    reason: str | None = None
    kind: Kind | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's shape: {"path", "bytes", "status", "reason"?}."""
        shown: dict[str, Any] = {"path": self.path, "bytes": self.bytes, "status": self.status}
        if self.reason is not None:
            shown["reason"] = self.reason
        return shown


@dataclass(slots=True)
class FileBundle:
    """What was read: every file considered (`records`), the texts (display path, text; PDFs as their
    text), the images (display path, Image), and notes on what expansion left out."""

    records: list[FileRecord] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[str, Image]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Bytes of the files read (sizes on disk)."""
        return sum(record.bytes for record in self.records if record.status == "read")

    def to_dicts(self) -> list[dict[str, Any]]:
        """The `files` list of the tool result."""
        return [record.to_dict() for record in self.records]

    def as_prompt_text(self) -> str:
        """The texts for the user turn, each as::

            File: src/a.py
            ```
            <content>
            ```

        The fence is one backtick longer than the longest run of backticks in the content (at least three),
        so no content can close it early and fake another file; paths are shown printable (`names`: control,
        format and line-separator characters and undecodable bytes escaped), so a file name cannot break its
        header line. Images are named in order as attached.
        """
        notes = {record.path: record.reason for record in self.records if record.status == "read" and record.reason}
        blocks = [_block(path, text, notes.get(path)) for path, text in self.texts]
        blocks += [f"Image: {printable(path)} (attached as image {n})" for n, (path, _) in enumerate(self.images, 1)]
        return "\n\n".join(blocks)


def _block(path: str, text: str, note: str | None) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    header = f"File: {printable(path)}" + (f" ({note})" if note else "")
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{header}\n{fence}\n{body}{fence}"


@dataclass(slots=True)
class _Budget:
    """Room left: `files` and `bytes` still free for expanded files once explicit ones are set aside."""

    reserved_files: int
    reserved_bytes: int
    used_files: int = 0
    used_bytes: int = 0

    def refusal(self, size: int) -> str | None:
        """Why an expanded file of `size` bytes does not fit, or None when it does."""
        if size > MAX_FILE_BYTES:
            return f"over the {_mb(MAX_FILE_BYTES)} per-file limit ({size:,} bytes); name a smaller file"
        if self.used_files + self.reserved_files + 1 > MAX_FILES:
            return f"beyond the {MAX_FILES}-file limit per call; name it, or use a narrower directory or glob"
        if self.used_bytes + self.reserved_bytes + size > MAX_TOTAL_BYTES:
            return f"would take the total over the {_mb(MAX_TOTAL_BYTES)} limit per call; name fewer files"
        return None


def _mb(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB ({limit:,}-byte)"


def read_files(entries: Sequence[str], allowed: AllowedDirectories) -> FileBundle:
    """Read `entries` (paths, directories, globs) confined to `allowed`.

    Raises NoAllowedDirectoriesError, FileAccessError (an entry outside), FileReadError (an explicit entry
    missing, not regular, binary, corrupt) or FileLimitError (explicit entries over a limit).
    """
    if not allowed:
        raise NoAllowedDirectoriesError(roots=allowed.roots)
    expansion = expand(entries, allowed)
    budget = _reserve(expansion.candidates)
    bundle = FileBundle(notes=list(expansion.notes))
    for candidate in expansion.candidates:
        bundle.records.append(_consider(candidate, budget, bundle))
    return bundle


def _reserve(candidates: list[Candidate]) -> _Budget:
    """Set aside room for the explicit files; raises FileLimitError when they alone exceed a limit."""
    named = [c.checked for c in candidates if c.explicit and c.checked is not None]
    for checked in named:
        if checked.stat.st_size > MAX_FILE_BYTES:
            raise _too_big(checked.entry, checked.stat.st_size)
    if len(named) > MAX_FILES:
        raise FileLimitError(
            f"`files` names {len(named)} files, over the limit of {MAX_FILES} files per call. "
            "Name fewer files, or split the work over several calls."
        )
    total = sum(checked.stat.st_size for checked in named)
    if total > MAX_TOTAL_BYTES:
        raise FileLimitError(
            f"The files named in `files` total {total:,} bytes, over the {_mb(MAX_TOTAL_BYTES)} limit per call. "
            "Name fewer or smaller files, or split the work over several calls."
        )
    return _Budget(len(named), total)


def _too_big(entry: str, size: int) -> FileLimitError:
    return FileLimitError(
        f"`files` entry {entry!r} is {size:,} bytes, over the {_mb(MAX_FILE_BYTES)} per-file limit. "
        "Name a smaller file, or put the part that matters in the prompt."
    )


def _consider(candidate: Candidate, budget: _Budget, bundle: FileBundle) -> FileRecord:
    """Read one candidate into `bundle`; its record. Raises for an explicit file that cannot be read."""
    if candidate.checked is None:
        return FileRecord(candidate.display, 0, "skipped", candidate.skip)
    checked = candidate.checked
    if not candidate.explicit:
        refusal = budget.refusal(checked.stat.st_size)
        if refusal is not None:
            return FileRecord(candidate.display, checked.stat.st_size, "skipped", refusal)
    try:
        fd, _info = open_confined(checked)
        data = _read_bounded(fd)
    except FileReadError as exc:
        if candidate.explicit:
            raise
        return FileRecord(candidate.display, 0, "skipped", exc.reason)
    problem = _account(candidate, len(data), budget)
    if problem is not None:
        return FileRecord(candidate.display, len(data), "skipped", problem)
    return _accept(candidate, data, bundle)


def _account(candidate: Candidate, size: int, budget: _Budget) -> str | None:
    """Count a file just read (its size may have changed since the check); why it no longer fits, or None."""
    assert candidate.checked is not None
    if candidate.explicit:
        budget.reserved_files -= 1
        budget.reserved_bytes -= candidate.checked.stat.st_size
        if size > MAX_FILE_BYTES:
            raise _too_big(candidate.checked.entry, size)
    else:
        problem = budget.refusal(size)
        if problem is not None:
            return problem
    budget.used_files += 1
    budget.used_bytes += size
    if candidate.explicit and budget.used_bytes + budget.reserved_bytes > MAX_TOTAL_BYTES:
        raise FileLimitError(
            f"The files named in `files` grew to over the {_mb(MAX_TOTAL_BYTES)} limit per call while being "
            "read. Name fewer or smaller files."
        )
    return None


def _accept(candidate: Candidate, data: bytes, bundle: FileBundle) -> FileRecord:
    content = classify(data)
    if content.problem is not None:
        if candidate.explicit:
            raise FileReadError(
                candidate.checked.entry if candidate.checked else candidate.display,
                content.problem,
                "Name text files, images or PDFs only.",
            )
        return FileRecord(candidate.display, len(data), "skipped", content.problem, content.kind)
    if content.image is not None:
        bundle.images.append((candidate.display, content.image))
    else:
        bundle.texts.append((candidate.display, content.text or ""))
    return FileRecord(candidate.display, len(data), "read", content.note, content.kind)


def _read_bounded(fd: int) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of `fd` (closed here), so a file that grew is seen as over the limit."""
    try:
        limit = MAX_FILE_BYTES + 1
        chunks: list[bytes] = []
        size = 0
        while size < limit:
            chunk = os.read(fd, min(limit - size, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
