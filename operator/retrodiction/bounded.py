"""Reading bytes someone else wrote (a run's ConfigMaps, a summary in object storage) without letting their size
decide ours: every read and every decompression stops one byte past a limit and says so."""

from __future__ import annotations

import zlib
from typing import Protocol

# Read in pieces of this size: a stream's read(n) may return less than n before its end.
_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class TooLargeError(ValueError):
    """More bytes than the limit (read, or once decompressed)."""


class CorruptError(ValueError):
    """Compressed bytes that do not decompress, stop short, or carry bytes after their end."""


def read_at_most(stream: Readable, limit: int, what: str) -> bytes:
    """The stream's bytes to its end; TooLargeError as soon as there are more than `limit`."""
    pieces: list[bytes] = []
    size = 0
    while True:
        piece = stream.read(min(_CHUNK, limit + 1 - size))
        if not piece:
            return b"".join(pieces)
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            raise TooLargeError(f"{what} is larger than {_mib(limit)}")


def gunzip_at_most(data: bytes, limit: int, what: str) -> bytes:
    """One gzip member decompressed; TooLargeError past `limit` bytes (never more than limit + 1 are made),
    CorruptError when it is not gzip, is cut short, or has bytes after its end."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as err:
        raise CorruptError(f"{what} is not valid gzip ({err})") from None
    if len(out) > limit:
        raise TooLargeError(f"{what} decompresses to more than {_mib(limit)}")
    if not inflater.eof:
        raise CorruptError(f"{what} is cut short (its gzip stream does not end)")
    if inflater.unused_data:
        raise CorruptError(f"{what} has {len(inflater.unused_data)} byte(s) after its gzip stream")
    return out


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB" if size >= 1 << 20 else f"{size} bytes"
