"""The summary document in ConfigMaps owned by the run: inline, compressed, or split into parts."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from retrodiction.api.children import (
    CONFIGMAP_BUDGET,
    b64_text,
    child_metadata,
    object_name,
    report_configmap_name,
    required_field,
    suffixed_name,
    summary_configmap_name,
)
from retrodiction.api.errors import format_validation_error
from retrodiction.api.summary import RetrodictionSummary, parse_summary
from retrodiction.bounded import CorruptError, TooLargeError, gunzip_at_most
from retrodiction.identity import COMPONENT_HTML_REPORT, COMPONENT_LABEL, COMPONENT_SUMMARY

# --- the summary ConfigMap(s) --------------------------------------------------------------------------------------

# Plain JSON stays readable with `kubectl get cm -o jsonpath`; past this it is compressed.
SUMMARY_INLINE_MAX: Final = 256 * 1024
# Beyond this the summary belongs in object storage (spec.output.uri), not in etcd.
MAX_SUMMARY_PARTS: Final = 64
# What a reader makes of a summary at most, decompressed: ten times what 64 parts of gzip hold at JSON's usual ratio.
MAX_SUMMARY_BYTES: Final = 512 * 1024 * 1024
_DNS_NAME: Final = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"

SUMMARY_KEY: Final = "summary.json"
SUMMARY_GZ_KEY: Final = "summary.json.gz"
SUMMARY_INDEX_KEY: Final = "summary-index.json"
SUMMARY_PART_KEY: Final = "summary.json.gz.part"
_PART_ENCODING: Final = "gzip"


@dataclass(frozen=True)
class SummaryLimits:
    """Where the summary changes form: plain JSON up to `inline_max` bytes, then gzip in one ConfigMap while its
    base64 fits `budget`, then parts of `budget` each, at most `max_parts` of them."""

    inline_max: int = SUMMARY_INLINE_MAX
    budget: int = CONFIGMAP_BUDGET
    max_parts: int = MAX_SUMMARY_PARTS


DEFAULT_LIMITS: Final = SummaryLimits()


class SummaryTooLargeError(ValueError):
    """The summary does not fit MAX_SUMMARY_PARTS ConfigMaps; it has to go to spec.output.uri."""


def _raw_budget(encoded_budget: int) -> int:
    # base64 turns every 3 bytes into 4 characters.
    return encoded_budget // 4 * 3


def _summary_configmap(
    run_meta: Mapping[str, Any],
    name: str,
    *,
    data: dict[str, str] | None = None,
    binary: dict[str, str] | None = None,
    component: str = COMPONENT_SUMMARY,
) -> dict[str, Any]:
    configmap: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(run_meta, name, {COMPONENT_LABEL: component}, block_owner_deletion=False),
    }
    if data:
        configmap["data"] = data
    if binary:
        configmap["binaryData"] = binary
    return configmap


def summary_configmaps(
    run_meta: Mapping[str, Any],
    summary: RetrodictionSummary,
    *,
    name: str | None,
    limits: SummaryLimits = DEFAULT_LIMITS,
) -> list[dict[str, Any]]:
    """The summary document as ConfigMaps: the first is named `name` (default `<run>-summary`) and is the entry.

    Plain JSON under `summary.json` when small; gzip under binaryData `summary.json.gz` when larger; when even that
    exceeds one ConfigMap, an index ConfigMap (`summary-index.json`: parts, encoding, sha256 of the JSON) followed
    by parts `<name>-part-0001`... Output is deterministic, so writing the same summary again changes nothing.
    Raises SummaryTooLargeError rather than dropping anything.
    """
    entry = summary_configmap_name(required_field(run_meta, "name"), name)
    text = json.dumps(summary.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    raw = text.encode()
    if len(raw) <= limits.inline_max:
        return [_summary_configmap(run_meta, entry, data={SUMMARY_KEY: text})]
    compressed = gzip.compress(raw, compresslevel=6, mtime=0)
    encoded = b64_text(compressed)
    if len(encoded) <= limits.budget:
        return [_summary_configmap(run_meta, entry, binary={SUMMARY_GZ_KEY: encoded})]
    chunk = _raw_budget(limits.budget)
    chunks = [compressed[i : i + chunk] for i in range(0, len(compressed), chunk)]
    if len(chunks) > limits.max_parts:
        raise SummaryTooLargeError(
            f"the summary is {len(raw)} bytes ({len(compressed)} compressed) and would need {len(chunks)} "
            f"ConfigMaps (at most {limits.max_parts}); set spec.output.uri to store it in object storage"
        )
    part_names = [suffixed_name(entry, f"-part-{i:04d}") for i in range(1, len(chunks) + 1)]
    index = {
        "encoding": _PART_ENCODING,
        "parts": part_names,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "compressedSize": len(compressed),
    }
    parts = [
        _summary_configmap(run_meta, part, binary={SUMMARY_PART_KEY: b64_text(piece)})
        for part, piece in zip(part_names, chunks, strict=True)
    ]
    return [_summary_configmap(run_meta, entry, data={SUMMARY_INDEX_KEY: json.dumps(index)}), *parts]


def _is_summary_entry(configmap: Mapping[str, Any]) -> bool:
    data = configmap.get("data") or {}
    return SUMMARY_KEY in data or SUMMARY_INDEX_KEY in data or SUMMARY_GZ_KEY in (configmap.get("binaryData") or {})


class SummaryIndex(BaseModel):
    """The index ConfigMap's document: which parts, in order, and the sha256 and size of the JSON they make."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    encoding: Literal["gzip"]
    parts: list[Annotated[str, StringConstraints(pattern=_DNS_NAME, max_length=253)]] = Field(
        min_length=1, max_length=MAX_SUMMARY_PARTS
    )
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(ge=0)


def summary_index(entry: Mapping[str, Any]) -> SummaryIndex | None:
    """The index of a summary split into parts, or None when the entry holds the whole summary; ValueError when
    the index is not one (a reader fetches the parts it names, so it must be checked before any is fetched)."""
    text = (entry.get("data") or {}).get(SUMMARY_INDEX_KEY)
    if text is None:
        return None
    try:
        return SummaryIndex.model_validate_json(text)
    except ValidationError as err:
        raise ValueError(f"summary {object_name(entry)} has an invalid index: {format_validation_error(err)}") from None


def read_summary_configmaps(
    configmaps: Iterable[Mapping[str, Any]], *, name: str | None = None, max_bytes: int = MAX_SUMMARY_BYTES
) -> RetrodictionSummary:
    """The summary document back from what `summary_configmaps` made; ValueError if a part is missing or altered,
    or the JSON would be larger than `max_bytes` (SummaryError, a ValueError, when what they hold is not a
    summary). Nothing is decompressed past `max_bytes`.

    `configmaps` may hold other ConfigMaps too (e.g. everything a run owns); `name` picks the entry when several
    summaries are among them.
    """
    by_name = {object_name(cm): cm for cm in configmaps}
    entries = [cm for cm in by_name.values() if _is_summary_entry(cm) and (name is None or object_name(cm) == name)]
    if len(entries) != 1:
        found = sorted(object_name(cm) for cm in entries)
        raise ValueError(f"expected one summary ConfigMap{f' named {name}' if name else ''}, found {found}")
    entry = entries[0]
    what = f"summary {object_name(entry)}"
    data = entry.get("data") or {}
    if SUMMARY_KEY in data:
        text = data[SUMMARY_KEY]
        if len(text) > max_bytes:
            raise TooLargeError(f"{what} is larger than {max_bytes} bytes")
        return parse_summary(text)
    binary = entry.get("binaryData") or {}
    if SUMMARY_GZ_KEY in binary:
        return parse_summary(gunzip_at_most(_b64(binary[SUMMARY_GZ_KEY], what), max_bytes, what))
    index = summary_index(entry)
    if index is None:
        raise ValueError(f"{what} holds no summary")
    return parse_summary(_joined_parts(what, index, by_name, max_bytes))


def _joined_parts(what: str, index: SummaryIndex, by_name: Mapping[str, Mapping[str, Any]], max_bytes: int) -> bytes:
    """The JSON the index's parts make, checked against its sha256."""
    if index.size > max_bytes:
        raise TooLargeError(f"{what} is {index.size} bytes, more than {max_bytes}")
    pieces: list[bytes] = []
    for part in index.parts:
        configmap = by_name.get(part)
        if configmap is None or SUMMARY_PART_KEY not in (configmap.get("binaryData") or {}):
            raise ValueError(f"summary part {part} is missing")
        pieces.append(_b64(configmap["binaryData"][SUMMARY_PART_KEY], f"summary part {part}"))
    try:
        raw = gunzip_at_most(b"".join(pieces), max_bytes, what)
    except CorruptError as err:
        raise ValueError(f"{what} is corrupt: a part is stale or altered ({err})") from None
    if hashlib.sha256(raw).hexdigest() != index.sha256:
        raise ValueError(f"{what} does not match its sha256: a part is stale or altered")
    return raw


def _b64(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


# --- the HTML report beside the summary ----------------------------------------------------------------------------

REPORT_HTML_KEY: Final = "report.html.gz"


def report_configmap(run_meta: Mapping[str, Any], html: str, *, summary_name: str | None) -> dict[str, Any] | None:
    """The HTML report, gzip-compressed, in one ConfigMap owned by the run; None when it does not fit one (it
    then lives only under spec.output.uri, if that is set)."""
    entry = summary_configmap_name(required_field(run_meta, "name"), summary_name)
    encoded = b64_text(gzip.compress(html.encode(), compresslevel=9, mtime=0))
    if len(encoded) > CONFIGMAP_BUDGET:
        return None
    name = report_configmap_name(entry)
    return _summary_configmap(run_meta, name, binary={REPORT_HTML_KEY: encoded}, component=COMPONENT_HTML_REPORT)
