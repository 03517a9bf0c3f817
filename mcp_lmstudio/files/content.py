"""What a file's bytes are, and what the model gets from them: text, an image, or a PDF's text.

Classification sniffs content, never the extension: PDF (`%PDF-` in the first 1 KB), image (magic bytes),
binary (a NUL byte, or more than 10% control characters, in the first 8 KB), else text. SVG is text.
PNG, JPEG and WebP are passed on as they are once Pillow has checked them; GIF, BMP, TIFF and ICO are
converted to PNG (first frame). Images over MAX_IMAGE_PIXELS are refused before they are decoded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import InvalidInputError
from ..types import Image, sniff_image_type

if TYPE_CHECKING:
    from PIL.Image import Image as Picture
    from pypdf import PdfReader

__all__ = ["MAX_IMAGE_PIXELS", "MAX_PDF_TEXT_CHARS", "Content", "classify"]

Kind = Literal["text", "image", "pdf", "binary"]

#: Largest image (width x height) decoded; above it an image is refused (decompression bombs).
MAX_IMAGE_PIXELS = 40_000_000
#: A PDF's extracted text is cut here (a small PDF can hold a great deal of compressed text).
MAX_PDF_TEXT_CHARS = 4_000_000
NOT_UTF8 = "not valid UTF-8; undecodable bytes shown as U+FFFD"

_SAMPLE_BYTES = 8192
_BINARY_CONTROL_SHARE = 0.10
# Control bytes that do not occur in text (tab, newlines, form feed, backspace and escape do).
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\v\b\x1b") + b"\x7f"
# Pillow format names for the image types sniffed; `formats=` keeps Pillow from trying any other decoder.
_KEPT = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
_CONVERTED = {
    "GIF": (b"GIF87a", b"GIF89a"),
    "BMP": (b"BM",),
    "TIFF": (b"II*\x00", b"MM\x00*"),
    "ICO": (b"\x00\x00\x01\x00",),
}


@dataclass(frozen=True, slots=True)
class Content:
    """A classified file. `problem` is set when it cannot be given to the model (binary, corrupt,
    encrypted); `note` qualifies content that was read (invalid UTF-8, no text in a PDF, cut short)."""

    kind: Kind
    text: str | None = None
    image: Image | None = None
    note: str | None = None
    problem: str | None = None


def classify(data: bytes) -> Content:
    """Classify and convert `data` (a whole file). Never raises for bad content: `problem` says what is wrong."""
    if b"%PDF-" in data[:1024]:
        return _pdf(data)
    mime = _image_type(data)
    if mime is not None:
        return _image(data, mime)
    if _looks_binary(data[:_SAMPLE_BYTES]):
        return Content("binary", problem="is a binary file (not text, an image or a PDF)")
    return _text(data)


def _image_type(data: bytes) -> str | None:
    """What LM Studio takes as it is (`sniff_image_type`), else a format converted to PNG."""
    return sniff_image_type(data) or next(
        (name for name, magics in _CONVERTED.items() if data.startswith(magics)), None
    )


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return bool(sample) and controls / len(sample) > _BINARY_CONTROL_SHARE


def _text(data: bytes) -> Content:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return Content("text", text=data.decode("utf-8"))
    except UnicodeDecodeError:
        return Content("text", text=data.decode("utf-8", errors="replace"), note=NOT_UTF8)


def _image(data: bytes, mime: str) -> Content:
    from PIL import Image as PILImage  # deferred: Pillow is only needed when an image is read

    pil_format = _KEPT.get(mime, mime)
    try:
        with PILImage.open(io.BytesIO(data), formats=[pil_format]) as picture:
            width, height = picture.size
            if width * height > MAX_IMAGE_PIXELS:
                return Content("image", problem=_too_big(width, height))
            if mime in _KEPT:
                picture.verify()
                return Content("image", image=Image.from_bytes(data, mime))
            return Content(
                "image", image=Image.from_bytes(_to_png(picture), "image/png"), note=f"{pil_format} converted to PNG"
            )
    except InvalidInputError as exc:  # the PNG made is over MAX_IMAGE_BYTES
        return Content("image", problem=f"cannot be sent as an image ({exc})")
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):  # the warning when made an error
        return Content(
            "image", problem=f"is an image over Pillow's pixel limit; downscale it below {MAX_IMAGE_PIXELS:,}"
        )
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...) on bad data
        return Content("image", problem=f"is a corrupt or unsupported {pil_format} image ({type(exc).__name__})")


def _too_big(width: int, height: int) -> str:
    return f"is a {width}x{height} image, over the {MAX_IMAGE_PIXELS:,}-pixel limit; downscale it"


def _to_png(picture: Picture) -> bytes:
    picture.seek(0)
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    converted = picture.convert("RGBA" if has_alpha else "RGB")
    out = io.BytesIO()
    converted.save(out, format="PNG")
    return out.getvalue()


def _pdf(data: bytes) -> Content:
    from pypdf import PasswordType, PdfReader  # deferred: pypdf is only needed when a PDF is read

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            return Content("pdf", problem="is an encrypted PDF that needs a password")
        return _pdf_text(reader)
    except Exception as exc:  # pypdf raises many types on malformed files (PdfReadError, ValueError, KeyError...)
        return Content("pdf", problem=f"is a PDF whose text cannot be extracted ({type(exc).__name__})")


def _pdf_text(reader: PdfReader) -> Content:
    pages: list[str] = []
    size = 0
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text() or ""
        pages.append(f"[Page {number}]\n{text}")
        size += len(text)
        if size > MAX_PDF_TEXT_CHARS:
            joined = "\n\n".join(pages)[:MAX_PDF_TEXT_CHARS]
            return Content("pdf", text=joined, note=f"text cut at {MAX_PDF_TEXT_CHARS:,} characters (page {number})")
    joined = "\n\n".join(pages)
    note = None if any(line.strip() for page in pages for line in page.splitlines()[1:]) else "no extractable text"
    return Content("pdf", text=joined, note=note)
