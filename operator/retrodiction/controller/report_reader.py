"""Reading a run's driver report: tenant-written bytes, so capped, parsed strictly, and checked to be this run's."""

from __future__ import annotations

import json
from typing import Final

from pydantic import ValidationError

from retrodiction.api.report import MAX_REPORT_BYTES, REPORT_KEY, DriverReport

# The whole ConfigMap object as the API server sends it (metadata, managedFields and the report).
MAX_REPORT_OBJECT_BYTES: Final = 64 * 1024


class ReportError(ValueError):
    """The report is missing a part, too large, not valid, or not this run's: it is ignored, never half-used."""


def parse_report(blob: bytes, run_uid: str) -> DriverReport:
    try:
        configmap = json.loads(blob)
    except (ValueError, RecursionError) as err:
        raise ReportError(f"not JSON: {type(err).__name__}") from None
    if not isinstance(configmap, dict) or not isinstance(configmap.get("metadata"), dict):
        raise ReportError("not a ConfigMap")
    owners = configmap["metadata"].get("ownerReferences") or []
    if not isinstance(owners, list) or not any(
        isinstance(owner, dict) and owner.get("uid") == run_uid and owner.get("controller") for owner in owners
    ):
        raise ReportError("not owned by the run")
    data = configmap.get("data")
    text = data.get(REPORT_KEY) if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise ReportError(f"no {REPORT_KEY}")
    if len(text.encode(errors="surrogatepass")) > MAX_REPORT_BYTES:
        raise ReportError(f"{REPORT_KEY} is larger than {MAX_REPORT_BYTES} bytes")
    try:
        report = DriverReport.model_validate_json(text)
    except ValidationError as err:
        # The kinds of error only: a location would repeat the tenant's own keys (into the operator's log).
        kinds = ", ".join(sorted({str(error["type"]) for error in err.errors()}))
        raise ReportError(f"invalid: {err.error_count()} error(s) ({kinds})") from None
    if report.run_uid != run_uid:
        raise ReportError("written for another run")
    return report
