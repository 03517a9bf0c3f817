"""`/files` `uploadFileBase64`: stores the upload and answers `{identifier, fileType, sizeBytes}`.

`fileType` is one of lms-shared-types `FileType`: `image` (PNG, JPEG, GIF, WebP, BMP by content),
`application/pdf`, `application/word` (.doc/.docx), `text/plain` (.txt/.md/.csv/... or valid UTF-8
without NUL bytes), `text/other` (source files by extension), else `unknown`. The identifier mirrors
LM Studio's `"<epoch ms> - <n>.<ext>"`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from typing import TYPE_CHECKING, Any

from ._protocol import EndpointError, RpcHandler, error_payload
from ._records import UploadRecord

if TYPE_CHECKING:
    from ._emulator import LMStudioEmulator

__all__ = ["FileEndpoints", "file_type_of"]

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
_TEXT_EXTENSIONS = frozenset({"txt", "md", "markdown", "csv", "tsv", "json", "log"})
_OTHER_TEXT_EXTENSIONS = frozenset({"py", "js", "ts", "html", "css", "xml", "yaml", "yml", "c", "cpp", "rs", "go"})


def file_type_of(name: str, content: bytes) -> str:
    """LM Studio's `FileType` for an upload named `name` with these bytes."""
    extension = name.rpartition(".")[2].lower() if "." in name else ""
    if content.startswith(_IMAGE_MAGIC) or (content[:4] == b"RIFF" and content[8:12] == b"WEBP"):
        return "image"
    if content.startswith(b"%PDF"):
        return "application/pdf"
    if extension in ("doc", "docx"):
        return "application/word"
    if extension in _OTHER_TEXT_EXTENSIONS:
        return "text/other"
    if extension in _TEXT_EXTENSIONS or _is_text(content):
        return "text/plain"
    return "unknown"


def _is_text(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in content


class FileEndpoints:
    """The `/files` handlers."""

    def __init__(self, emulator: LMStudioEmulator) -> None:
        self.emulator = emulator
        self._numbers = itertools.count(1)

    def rpcs(self) -> dict[str, RpcHandler]:
        return {"uploadFileBase64": self.upload, "getLocalFileAbsolutePath": self.local_path}

    async def upload(self, parameter: dict[str, Any]) -> dict[str, Any]:
        name = str(parameter.get("name", "file"))
        try:
            content = base64.b64decode(parameter.get("contentBase64", ""), validate=True)
        except (binascii.Error, ValueError):
            raise EndpointError(error_payload(f"File {name!r} is not valid base64")) from None
        file_type = file_type_of(name, content)
        extension = name.rpartition(".")[2] if "." in name else "bin"
        identifier = f"{round(time.time() * 1000)} - {next(self._numbers)}.{extension}"
        self.emulator.uploads.append(UploadRecord(name, content, identifier, file_type))
        self.emulator._changed()
        return {"identifier": identifier, "fileType": file_type, "sizeBytes": len(content)}

    async def local_path(self, parameter: dict[str, Any]) -> dict[str, Any]:
        identifier = str(parameter.get("fileName", ""))
        if not any(upload.identifier == identifier for upload in self.emulator.uploads):
            raise EndpointError(error_payload(f'File "{identifier}" not found'))
        return {"path": f"/emulated-lmstudio/user-files/{identifier}"}
