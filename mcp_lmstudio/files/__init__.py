"""Files by path: the local model reads files the host names, and may write its answer to one.

Threat model. The paths come from the host's model (`files`, `output_file`), which may have been steered
by anything it read: they are untrusted. The server's operator chooses the allowed directories
(`--allow-dir`, MCP_LMSTUDIO_ALLOW_DIRS); a client's roots can only narrow them. The guarantees:

- Nothing outside the allowed directories is read, written, counted or sent to LM Studio. Inside means,
  first as text (the entry made absolute and normalised, `..` applied lexically, before any file-system
  call), that it lies inside an allowed directory as configured or as its real path; then that its real
  path (symlinks resolved from the allowed directory) lies inside an allowed directory's real path. Both
  compare whole components; `~` is not expanded. A refusal for a path outside is decided from the text
  alone and reads the same whether or not anything exists there, so probing (`/proc/<pid>/cwd/...`, an
  outside symlink, timing) learns nothing. Consequence: an absolute path that reaches an allowed directory
  through a symlink outside it is refused; name the file from the allowed directory instead.
- The check holds for the file actually opened: opening walks from the allowed directory without following
  symlinks, and the opened file must be the one checked (device and inode; on Linux, /proc/self/fd).
- Nothing blocks: FIFOs, devices and sockets are refused before opening, and opened non-blocking in a race.
- Sizes are bounded (2 MB a file, 200 files, 8 MB a call) and never read past; walks are bounded too.
- Cost is bounded: globs and `.gitignore` patterns are matched without regular expressions (no pattern
  can backtrack), a glob holds at most 16 `*`, a call reads at most 256 KB of `.gitignore` and keeps 2,000
  rules, expansion stops after 5 seconds, 100,000 entries or 1,000 files (with a note), and an entry may
  lie at most 64 components below its allowed directory.
- File names are shown as valid, single-line Unicode: undecodable bytes and control, format and line
  separator characters are escaped, so a name cannot fake a header or break the result.
- Writing is off unless allowed; it is atomic, never replaces a file without `overwrite`, never writes
  through a symlink, never into `.git`, `.hg` or `.svn`, never leaves an execute, setuid, setgid or
  sticky bit on what it wrote, and leaves nothing behind on failure.

Out of scope: an attacker who can already change the allowed directories' ancestors or the server's own
settings, and the content of files inside the allowed directories (it is handed to the model as data).

This package imports neither `mcp` nor `lmstudio`; the tools and the model layer wire it in.
"""

from __future__ import annotations

from .confinement import AllowedDirectories, CheckedPath, open_confined
from .content import Content, classify
from .errors import (
    FileAccessError,
    FileLimitError,
    FileReadError,
    NoAllowedDirectoriesError,
    OutputFileError,
    WriteNotAllowedError,
)
from .expansion import Candidate, Expansion, expand
from .reading import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES, FileBundle, FileRecord, read_files
from .settings import allowed_from, dirs_from_env, write_allowed_from_env
from .writing import OutputTarget, WrittenFile, check_output_target, receipt, write_answer

__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MAX_TOTAL_BYTES",
    "AllowedDirectories",
    "Candidate",
    "CheckedPath",
    "Content",
    "Expansion",
    "FileAccessError",
    "FileBundle",
    "FileLimitError",
    "FileReadError",
    "FileRecord",
    "NoAllowedDirectoriesError",
    "OutputFileError",
    "OutputTarget",
    "WriteNotAllowedError",
    "WrittenFile",
    "allowed_from",
    "check_output_target",
    "classify",
    "dirs_from_env",
    "expand",
    "open_confined",
    "read_files",
    "receipt",
    "write_allowed_from_env",
    "write_answer",
]
