"""Reads and decompressions that stop at a limit: a gzip bomb costs its limit, not its size."""

import gzip
import io
import zlib

import pytest

from retrodiction.bounded import CorruptError, TooLargeError, gunzip_at_most, read_at_most


class Trickle(io.RawIOBase):
    """A stream that hands back at most 3 bytes a read, as a socket may."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        size = 3 if size < 0 else min(size, 3)
        piece, self.data = self.data[:size], self.data[size:]
        return piece


def test_a_stream_up_to_the_limit_is_read_whole_even_in_small_pieces() -> None:
    assert read_at_most(Trickle(b"x" * 100), 100, "it") == b"x" * 100


def test_one_byte_over_the_limit_is_refused_naming_what_was_read() -> None:
    with pytest.raises(TooLargeError, match=r"^the summary is larger than 100 bytes$"):
        read_at_most(io.BytesIO(b"x" * 101), 100, "the summary")


def test_a_stream_is_not_read_past_the_limit() -> None:
    stream = io.BytesIO(b"x" * 10_000)
    with pytest.raises(TooLargeError):
        read_at_most(stream, 1000, "it")
    assert stream.tell() == 1001


def test_gzip_within_the_limit_decompresses() -> None:
    assert gunzip_at_most(gzip.compress(b"abc" * 1000), 3000, "it") == b"abc" * 1000


def test_a_gzip_bomb_stops_one_byte_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)  # 256 MiB of zeros in about 250 KiB
    with pytest.raises(TooLargeError, match="decompresses to more than 1 MiB"):
        gunzip_at_most(bomb, 1 << 20, "part 1")


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"not gzip at all", "is not valid gzip"),
        (gzip.compress(b"a" * 1000)[:-12], "is cut short"),
        (gzip.compress(b"a") + b"trailing", "byte\\(s\\) after its gzip stream"),
        (zlib.compress(b"a zlib stream, not gzip"), "is not valid gzip"),
    ],
    ids=["not-gzip", "truncated", "trailing-bytes", "zlib"],
)
def test_broken_gzip_is_corrupt_not_a_crash(blob: bytes, message: str) -> None:
    with pytest.raises(CorruptError, match=message):
        gunzip_at_most(blob, 1 << 20, "it")
