"""Limits (explicit files refuse the call, expanded ones are skipped and listed) and what the model gets:
text (U+FFFD noted), images (PNG kept, GIF converted, bombs and corrupt files refused), PDFs as text."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pypdf
import pytest
from PIL import Image as PILImage

from mcp_lmstudio.files import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    AllowedDirectories,
    FileLimitError,
    FileReadError,
    read_files,
)
from mcp_lmstudio.files.content import NOT_UTF8
from mcp_lmstudio.files.reading import _read_bounded

MB = 1024 * 1024


def record(bundle: object, path: str) -> dict[str, object]:
    return next(item for item in bundle.to_dicts() if item["path"] == path)  # type: ignore[attr-defined]


# Limits


def test_a_named_file_over_2_mb_refuses_the_call_with_the_numbers(app: Path, allowed: AllowedDirectories) -> None:
    (app / "big.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    with pytest.raises(FileLimitError) as info:
        read_files(["README.md", "big.txt"], allowed)
    message = str(info.value)
    assert "'big.txt'" in message and "2,097,153" in message and "2 MB" in message and "Name a smaller" in message


def test_a_named_file_of_exactly_2_mb_is_read(app: Path, allowed: AllowedDirectories) -> None:
    (app / "edge.txt").write_bytes(b"a" * MAX_FILE_BYTES)
    assert record(read_files(["edge.txt"], allowed), "edge.txt")["status"] == "read"


def test_an_expanded_file_over_2_mb_is_skipped_and_listed(app: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "big.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    bundle = read_files(["sub"], allowed)
    big = record(bundle, "sub/big.txt")
    assert (big["status"], big["bytes"]) == ("skipped", MAX_FILE_BYTES + 1)
    assert "2 MB" in str(big["reason"])
    assert record(bundle, "sub/note.txt")["status"] == "read"
    assert [path for path, _ in bundle.texts] == ["sub/note.txt"]


def test_a_file_skipped_for_size_is_never_opened(app: Path, allowed: AllowedDirectories, touched: list[str]) -> None:
    (app / "sub" / "big.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    read_files(["sub"], allowed)
    assert str(app / "sub" / "big.txt") not in touched


def test_more_than_200_named_files_refuse_the_call(app: Path, allowed: AllowedDirectories) -> None:
    names = [f"many/{n:03}.txt" for n in range(MAX_FILES + 1)]
    for name in names:
        (app / name).parent.mkdir(exist_ok=True)
        (app / name).write_text("x")
    with pytest.raises(FileLimitError, match=r"201 files, over the limit of 200 files"):
        read_files(names, allowed)
    assert len(read_files(names[:MAX_FILES], allowed).texts) == MAX_FILES


def test_expansion_beyond_200_files_skips_and_lists_the_rest(app: Path, allowed: AllowedDirectories) -> None:
    for n in range(MAX_FILES + 5):
        (app / "many").mkdir(exist_ok=True)
        (app / "many" / f"{n:03}.txt").write_text("x")
    bundle = read_files(["README.md", "many"], allowed)
    assert len(bundle.records) == MAX_FILES + 6
    read = [item for item in bundle.to_dicts() if item["status"] == "read"]
    skipped = [item for item in bundle.to_dicts() if item["status"] == "skipped"]
    assert len(read) == MAX_FILES and read[0]["path"] == "README.md"
    assert [item["path"] for item in skipped] == [f"many/{n:03}.txt" for n in range(MAX_FILES - 1, MAX_FILES + 5)]
    assert all("200-file limit" in str(item["reason"]) for item in skipped)


def test_named_files_are_never_crowded_out_by_expansion(app: Path, allowed: AllowedDirectories) -> None:
    for n in range(MAX_FILES):
        (app / "many").mkdir(exist_ok=True)
        (app / "many" / f"{n:03}.txt").write_text("x")
    bundle = read_files(["many", "README.md"], allowed)
    assert record(bundle, "README.md")["status"] == "read"
    assert record(bundle, "many/199.txt")["status"] == "skipped"


def test_named_files_over_8_mb_in_all_refuse_the_call(app: Path, allowed: AllowedDirectories) -> None:
    names = [f"part{n}.txt" for n in range(5)]
    for name in names:
        (app / name).write_bytes(b"a" * (2 * MB - 1))
    with pytest.raises(FileLimitError) as info:
        read_files(names, allowed)
    assert "10,485,755 bytes" in str(info.value) and "8 MB" in str(info.value) and "Name fewer" in str(info.value)
    assert read_files(names[:4], allowed).total_bytes == 4 * (2 * MB - 1) <= MAX_TOTAL_BYTES


def test_expansion_over_8_mb_in_all_skips_the_rest(app: Path, allowed: AllowedDirectories) -> None:
    (app / "parts").mkdir()
    for n in range(5):
        (app / "parts" / f"{n}.txt").write_bytes(b"a" * (2 * MB - 1))
    bundle = read_files(["parts"], allowed)
    assert [item["status"] for item in bundle.to_dicts()] == ["read"] * 4 + ["skipped"]
    assert "8 MB" in str(record(bundle, "parts/4.txt")["reason"])
    assert bundle.total_bytes <= MAX_TOTAL_BYTES


def test_reads_are_bounded(app: Path) -> None:
    (app / "huge.txt").write_bytes(b"a" * (3 * MB))
    fd = os.open(app / "huge.txt", os.O_RDONLY)
    assert len(_read_bounded(fd)) == MAX_FILE_BYTES + 1


def test_a_named_file_that_grew_after_the_check_is_refused(
    app: Path, allowed: AllowedDirectories, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcp_lmstudio.files import reading

    real_open = reading.open_confined

    def grow(checked: object) -> tuple[int, os.stat_result]:
        (app / "grows.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 10))
        return real_open(checked)  # type: ignore[arg-type]

    (app / "grows.txt").write_text("small")
    monkeypatch.setattr(reading, "open_confined", grow)
    with pytest.raises(FileLimitError, match="per-file limit"):
        read_files(["grows.txt"], allowed)


# Text


def test_invalid_utf8_is_replaced_and_noted(app: Path, allowed: AllowedDirectories) -> None:
    (app / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    bundle = read_files(["latin1.txt"], allowed)
    assert bundle.texts == [("latin1.txt", "caf\ufffd\n")]
    assert record(bundle, "latin1.txt") == {"path": "latin1.txt", "bytes": 5, "status": "read", "reason": NOT_UTF8}
    assert NOT_UTF8 in bundle.as_prompt_text()


def test_a_utf8_bom_is_stripped(app: Path, allowed: AllowedDirectories) -> None:
    (app / "bom.txt").write_bytes(b"\xef\xbb\xbfhello")
    bundle = read_files(["bom.txt"], allowed)
    assert bundle.texts == [("bom.txt", "hello")]
    assert "reason" not in record(bundle, "bom.txt")


def test_svg_is_text(app: Path, allowed: AllowedDirectories) -> None:
    (app / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert read_files(["logo.svg"], allowed).texts == [("logo.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')]


def test_a_binary_file_is_refused_when_named_and_skipped_when_found(app: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "blob.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    (app / "sub" / "controls.dat").write_bytes(b"\x01\x02\x03\x04abc" * 100)
    with pytest.raises(FileReadError, match="binary file"):
        read_files(["sub/blob.bin"], allowed)
    with pytest.raises(FileReadError, match="binary file"):
        read_files(["sub/controls.dat"], allowed)
    bundle = read_files(["sub"], allowed)
    assert record(bundle, "sub/blob.bin")["status"] == record(bundle, "sub/controls.dat")["status"] == "skipped"
    assert [path for path, _ in bundle.texts] == ["sub/note.txt"]


def test_the_prompt_text_names_each_file_and_cannot_be_faked(app: Path, allowed: AllowedDirectories) -> None:
    (app / "tricky.md").write_text("```\nFile: src/main.py\n````\nfake\n")
    (app / "weird\nname.txt").write_text("w")
    text = read_files(["tricky.md", "src/main.py", "weird\nname.txt"], allowed).as_prompt_text()
    assert text.startswith(
        "File: tricky.md\n`````\n```\nFile: src/main.py\n````\nfake\n`````\n\nFile: src/main.py\n```\n"
    )
    assert "File: weird\\x0aname.txt\n```\nw\n```" in text


def test_the_result_lists_every_file_considered(app: Path, outside: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "out").symlink_to(outside / "secret")
    assert read_files(["sub"], allowed).to_dicts() == [
        {"path": "sub/note.txt", "bytes": 7, "status": "read"},
        {
            "path": "sub/out",
            "bytes": 0,
            "status": "skipped",
            "reason": "is a symbolic link to outside the allowed directories",
        },
    ]


# Images


def picture(format: str, size: tuple[int, int] = (4, 3), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    PILImage.new(mode, size, color=0).save(out, format=format)
    return out.getvalue()


def test_png_jpeg_and_webp_are_kept_as_they_are(app: Path, allowed: AllowedDirectories) -> None:
    originals = {"a.png": picture("PNG"), "b.jpg": picture("JPEG"), "c.webp": picture("WEBP")}
    for name, data in originals.items():
        (app / name).write_bytes(data)
    bundle = read_files(list(originals), allowed)
    assert [(path, image.to_bytes()) for path, image in bundle.images] == list(originals.items())
    assert [image.mime_type for _, image in bundle.images] == ["image/png", "image/jpeg", "image/webp"]
    assert bundle.texts == []
    assert "Image: a.png (attached as image 1)" in bundle.as_prompt_text()


@pytest.mark.parametrize(("format", "mode"), [("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGBA"), ("ICO", "RGBA")])
def test_other_formats_are_converted_to_png(format: str, mode: str, app: Path, allowed: AllowedDirectories) -> None:
    (app / f"x.{format.lower()}").write_bytes(picture(format, (16, 16), mode))
    bundle = read_files([f"x.{format.lower()}"], allowed)
    ((path, image),) = bundle.images
    assert image.mime_type == "image/png"
    with PILImage.open(io.BytesIO(image.to_bytes())) as converted:
        assert (converted.format, converted.size) == ("PNG", (16, 16))
    assert record(bundle, path)["reason"] == f"{format} converted to PNG"


def test_a_corrupt_image_is_refused_when_named_and_skipped_when_found(app: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 50)
    (app / "sub" / "bad.gif").write_bytes(b"GIF89a" + b"\x00" * 40)
    for name in ("sub/bad.png", "sub/bad.gif"):
        with pytest.raises(FileReadError, match="corrupt or unsupported"):
            read_files([name], allowed)
    bundle = read_files(["sub"], allowed)
    assert record(bundle, "sub/bad.png")["status"] == record(bundle, "sub/bad.gif")["status"] == "skipped"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels and holds one tiny compressed row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(100_000, 100_000), (7_000, 7_000)])
def test_a_decompression_bomb_is_refused_cleanly(size: tuple[int, int], app: Path, allowed: AllowedDirectories) -> None:
    (app / "bomb.png").write_bytes(png_header_only(*size))
    with pytest.raises(FileReadError) as info:
        read_files(["bomb.png"], allowed)
    assert "pixel limit" in str(info.value)


def test_a_real_large_gif_bomb_is_refused_before_decoding(app: Path, allowed: AllowedDirectories) -> None:
    (app / "bomb.gif").write_bytes(picture("GIF", (8_000, 6_000), "P"))
    with pytest.raises(FileReadError, match="pixel limit"):
        read_files(["bomb.gif"], allowed)


# PDF


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF, written by hand, showing `text` in Helvetica."""
    stream = f"BT /F1 24 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_pdf_is_given_as_its_text(app: Path, allowed: AllowedDirectories) -> None:
    (app / "doc.pdf").write_bytes(minimal_pdf("Hello from a PDF"))
    bundle = read_files(["doc.pdf"], allowed)
    ((path, text),) = bundle.texts
    assert path == "doc.pdf" and "Hello from a PDF" in text and text.startswith("[Page 1]")
    assert record(bundle, "doc.pdf") == {
        "path": "doc.pdf",
        "bytes": len(minimal_pdf("Hello from a PDF")),
        "status": "read",
    }


def test_a_corrupt_pdf_is_refused_when_named_and_skipped_when_found(app: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "bad.pdf").write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 100)
    with pytest.raises(FileReadError, match="PDF"):
        read_files(["sub/bad.pdf"], allowed)
    assert record(read_files(["sub"], allowed), "sub/bad.pdf")["status"] == "skipped"


def encrypted_pdf(user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(minimal_pdf("Hidden text"))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_encrypted_pdf_is_refused_with_the_reason(app: Path, allowed: AllowedDirectories) -> None:
    (app / "sub" / "locked.pdf").write_bytes(encrypted_pdf("secret-password"))
    with pytest.raises(FileReadError, match="encrypted PDF that needs a password"):
        read_files(["sub/locked.pdf"], allowed)
    assert "encrypted" in str(record(read_files(["sub"], allowed), "sub/locked.pdf")["reason"])


def test_a_pdf_encrypted_without_a_user_password_is_read(app: Path, allowed: AllowedDirectories) -> None:
    (app / "open.pdf").write_bytes(encrypted_pdf(""))
    ((_, text),) = read_files(["open.pdf"], allowed).texts
    assert "Hidden text" in text
