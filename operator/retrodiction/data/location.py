"""Turning a DataSource into an fsspec filesystem, a path and a format, with errors users can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

import fsspec
import pyarrow as pa
from fsspec.utils import infer_compression, tokenize

from retrodiction.data.builtin import builtin_path, is_builtin
from retrodiction.data.errors import DataError, describe_exception
from retrodiction.data.model import DataSource

ConcreteFormat = Literal["parquet", "csv"]

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
_CSV_SUFFIXES = (".csv",)
# Fields that change when an object is rewritten, by backend: local (mtime), S3 (ETag, LastModified),
# GCS (generation, md5Hash), memory (created).
_VERSION_FIELDS = (
    "mtime",
    "ETag",
    "etag",
    "LastModified",
    "last_modified",
    "generation",
    "md5Hash",
    "created",
)


@dataclass(frozen=True)
class Location:
    source: DataSource
    fs: Any  # fsspec.AbstractFileSystem
    path: str
    format: ConcreteFormat


def locate(source: DataSource) -> Location:
    fmt = _concrete_format(source)
    if is_builtin(source.uri):
        return Location(source, fsspec.filesystem("file"), str(builtin_path(source.uri)), fmt)
    with reading(source, fmt):
        fs, path = fsspec.core.url_to_fs(source.uri, **source.resolved_storage_options())
    return Location(source, fs, path, fmt)


def _concrete_format(source: DataSource) -> ConcreteFormat:
    if source.format in ("parquet", "csv"):
        return source.format
    if source.format != "auto":
        raise DataError("spec.data.format", f"unknown format {source.format!r}; use auto, parquet or csv")
    if is_builtin(source.uri):
        return "csv"
    name = source.uri.split("?", 1)[0].rstrip("/").lower()
    compression = infer_compression(name)
    if compression is not None:
        name = name.rsplit(".", 1)[0]
    if name.endswith(_PARQUET_SUFFIXES) and compression is None:
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise DataError(
        "spec.data.format",
        f"cannot tell the format of {source.uri} from its name (expected .parquet, .pq, .csv or .csv.gz); "
        "set format to parquet or csv",
    )


@contextlib.contextmanager
def reading(source: DataSource, fmt: ConcreteFormat) -> Iterator[None]:
    """Report whatever an fsspec backend or a parser raises as a DataError on the field the user must fix.

    Backends raise their own exception types (botocore, aiohttp, OSError, ValueError for unknown protocols),
    so this boundary catches broadly; it wraps only I/O and parsing calls, never our own logic.
    """
    try:
        yield
    except DataError:
        raise
    except (pa.ArrowInvalid, UnicodeDecodeError, EOFError) as exc:
        raise DataError("spec.data.format", f"cannot parse {source.uri} as {fmt}", describe_exception(exc)) from exc
    except PermissionError as exc:
        # Object stores often answer a bad key or secret with a bare "Forbidden"; say what to look at.
        raise DataError(
            "spec.data.uri",
            f"cannot read {source.uri}: access denied, check the credentials",
            describe_exception(exc),
        ) from exc
    except FileNotFoundError as exc:
        raise DataError(
            "spec.data.uri", f"cannot read {source.uri}: no such file or object", describe_exception(exc)
        ) from exc
    except Exception as exc:
        # Only the kind of error is public: a library's message may quote what the server sent.
        raise DataError(
            "spec.data.uri", f"cannot read {source.uri} ({type(exc).__name__})", describe_exception(exc)
        ) from exc


def open_random_access(location: Location) -> IO[bytes]:
    """Open for a reader that seeks to the parts it needs (Parquet): no read-ahead, so remote stores send only
    the byte ranges asked for instead of whole blocks."""
    with reading(location.source, location.format):
        file: IO[bytes] = location.fs.open(location.path, "rb", cache_type="none")
    return file


def open_stream(location: Location) -> IO[bytes]:
    """Open for reading front to back (CSV), decompressing by file extension."""
    with reading(location.source, location.format):
        file: IO[bytes] = location.fs.open(location.path, "rb", compression="infer")
    return file


def file_token(location: Location) -> str:
    """A token that changes when the file behind `location` changes (size and version fields of fs.info)."""
    with reading(location.source, location.format):
        info = location.fs.info(location.path)
    if info.get("type") == "directory":
        raise DataError("spec.data.uri", f"{location.source.uri} is a directory, expected a file")
    version = {key: str(info[key]) for key in _VERSION_FIELDS if key in info}
    return str(
        tokenize(
            location.source.uri,
            dict(location.source.storage_options),
            location.format,
            info.get("size"),
            version,
        )
    )
