"""The summary document in ConfigMaps owned by the run: inline, compressed, or split into parts."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from retrodiction.api.children import (
    CONFIGMAP_BUDGET,
    b64_text,
    child_metadata,
    object_name,
    required_field,
    suffixed_name,
    summary_configmap_name,
)
from retrodiction.api.summary import RetrodictionSummary, parse_summary
from retrodiction.identity import COMPONENT_LABEL, COMPONENT_SUMMARY

# --- the summary ConfigMap(s) --------------------------------------------------------------------------------------

# Plain JSON stays readable with `kubectl get cm -o jsonpath`; past this it is compressed.
SUMMARY_INLINE_MAX: Final = 256 * 1024
# Beyond this the summary belongs in object storage (spec.output.uri), not in etcd.
MAX_SUMMARY_PARTS: Final = 64

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
    run_meta: Mapping[str, Any], name: str, *, data: dict[str, str] | None = None, binary: dict[str, str] | None = None
) -> dict[str, Any]:
    configmap: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(run_meta, name, {COMPONENT_LABEL: COMPONENT_SUMMARY}, block_owner_deletion=False),
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


def read_summary_configmaps(configmaps: Iterable[Mapping[str, Any]], *, name: str | None = None) -> RetrodictionSummary:
    """The summary document back from what `summary_configmaps` made; ValueError if a part is missing or altered
    (SummaryError, a ValueError, when what they hold is not a summary).

    `configmaps` may hold other ConfigMaps too (e.g. everything a run owns); `name` picks the entry when several
    summaries are among them.
    """
    by_name = {object_name(cm): cm for cm in configmaps}
    entries = [cm for cm in by_name.values() if _is_summary_entry(cm) and (name is None or object_name(cm) == name)]
    if len(entries) != 1:
        found = sorted(object_name(cm) for cm in entries)
        raise ValueError(f"expected one summary ConfigMap{f' named {name}' if name else ''}, found {found}")
    entry = entries[0]
    data = entry.get("data") or {}
    if SUMMARY_KEY in data:
        return parse_summary(data[SUMMARY_KEY])
    binary = entry.get("binaryData") or {}
    if SUMMARY_GZ_KEY in binary:
        return parse_summary(gzip.decompress(base64.b64decode(binary[SUMMARY_GZ_KEY])))
    index = json.loads(data[SUMMARY_INDEX_KEY])
    if index.get("encoding") != _PART_ENCODING:
        raise ValueError(f"summary {object_name(entry)} has unknown encoding {index.get('encoding')!r}")
    pieces: list[bytes] = []
    for part in index["parts"]:
        configmap = by_name.get(part)
        if configmap is None or SUMMARY_PART_KEY not in (configmap.get("binaryData") or {}):
            raise ValueError(f"summary part {part} is missing")
        pieces.append(base64.b64decode(configmap["binaryData"][SUMMARY_PART_KEY]))
    try:
        raw = gzip.decompress(b"".join(pieces))
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"summary {object_name(entry)} is corrupt: a part is stale or altered ({err})") from err
    if hashlib.sha256(raw).hexdigest() != index["sha256"]:
        raise ValueError(f"summary {object_name(entry)} does not match its sha256: a part is stale or altered")
    return parse_summary(raw)
