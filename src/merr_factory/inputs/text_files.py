"""Reading the text files a person hands the pipeline (label CSVs, list files) as UTF-8,
with a one-line reason a person can act on when a file is not (UTF-16 from a spreadsheet,
a binary file), never its raw bytes on the terminal."""

from __future__ import annotations

import codecs
from pathlib import Path

UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class NotUtf8Error(ValueError):
    """The file is not UTF-8 text; the message says what it looks like instead."""


def read_utf8(path: Path) -> str:
    """The file's text (a UTF-8 byte order mark dropped). Raises ``OSError`` when it cannot
    be read and ``NotUtf8Error`` ("not a UTF-8 text file: ...") when it is not UTF-8."""
    data = path.read_bytes()
    if data.startswith(UTF16_MARKS):
        raise NotUtf8Error("not a UTF-8 text file: it is UTF-16; save it as UTF-8")
    if b"\x00" in data:  # valid UTF-8, but no text file holds NUL bytes
        raise NotUtf8Error(
            "not a UTF-8 text file: it holds NUL bytes (UTF-16 without a byte order mark, or "
            "not text at all); save it as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        byte = data[error.start]
        raise NotUtf8Error(
            f"not a UTF-8 text file: byte 0x{byte:02x} at offset {error.start} is not UTF-8 "
            f"({error.reason}); save it as UTF-8"
        ) from None


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x00``), for a message on a terminal."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
