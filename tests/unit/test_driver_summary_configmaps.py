import base64
import gzip
import json
import random
from collections.abc import Mapping
from typing import Any

import pytest

from retrodiction.api.children import (
    CONFIGMAP_BUDGET,
    owner_reference,
)
from retrodiction.api.summary import RetrodictionSummary, SummaryError, parse_summary
from retrodiction.driver.summary_configmaps import (
    SUMMARY_INLINE_MAX,
    SummaryLimits,
    SummaryTooLargeError,
    read_summary_configmaps,
    report_configmap,
    summary_configmaps,
)
from tests.unit.test_report_samples import make_summary

RUN = {"name": "gdp", "namespace": "team-a", "uid": "0b6a3c1e-1111-2222-3333-444455556666"}
MODELS = ("naive", "seasonal_naive", "window_average", "drift", "ses")
# The API server refuses a ConfigMap whose data and binaryData together exceed this.
CONFIGMAP_LIMIT = 1024 * 1024
# Parts of 64 KiB: a 2,000-variable summary spans several.
SMALL_PARTS = SummaryLimits(budget=64 * 1024)


def _summary(variables: int, seed: int = 7) -> RetrodictionSummary:
    rng = random.Random(seed)
    results = []
    for v in range(variables):
        for model in MODELS:
            n = rng.randint(50, 400)
            successes = rng.randint(0, n)
            results.append(
                {
                    "variable": f"series_{v:05d}",
                    "model": model,
                    "horizon": 1,
                    "n": n,
                    "skipped": rng.randint(0, 3),
                    "mae": rng.random() * 10,
                    "rmse": rng.random() * 12,
                    "mase": rng.random() * 2,
                    "directionalAccuracy": rng.random(),
                    "successes": successes,
                    "failures": n - successes,
                    "trust": {"mean": rng.random(), "lower": rng.random(), "upper": rng.random()},
                }
            )
    document = make_summary(variables=(), models=MODELS, horizons=(1,))
    document["run"].update(name="gdp", namespace="team-a", uid=RUN["uid"])
    document["batches"] = {
        "total": 5000,
        "succeeded": 4999,
        "failed": 1,
        "failures": [{"id": "b-1", "error": "é boom"}],
    }
    return parse_summary({**document, "results": results})


@pytest.fixture(scope="module")
def huge() -> RetrodictionSummary:
    return _summary(20_000)


def _payload_bytes(configmap: Mapping[str, Any]) -> int:
    data = sum(len(v.encode()) for v in (configmap.get("data") or {}).values())
    return data + sum(len(base64.b64decode(v)) for v in (configmap.get("binaryData") or {}).values())


def _assert_owned_and_small(configmaps: list[dict[str, Any]]) -> None:
    for configmap in configmaps:
        meta = configmap["metadata"]
        assert meta["namespace"] == "team-a"
        assert meta["ownerReferences"] == [owner_reference(RUN, block_owner_deletion=False)]
        assert meta["labels"]["training.retrodiction.dev/run"] == "gdp"
        assert meta["labels"]["app.kubernetes.io/component"] == "summary"
        assert _payload_bytes(configmap) < CONFIGMAP_LIMIT
        assert len(json.dumps(configmap)) <= CONFIGMAP_BUDGET + 4096


def test_a_small_summary_is_plain_json_in_one_configmap() -> None:
    summary = _summary(3)
    [configmap] = summary_configmaps(RUN, summary, name=None)
    assert configmap["metadata"]["name"] == "gdp-summary"
    assert json.loads(configmap["data"]["summary.json"]) == summary.to_dict()
    assert "binaryData" not in configmap
    assert read_summary_configmaps([configmap]) == summary


def test_the_configured_name_is_used() -> None:
    [configmap] = summary_configmaps(RUN, _summary(1), name="my-results")
    assert configmap["metadata"]["name"] == "my-results"


def test_a_medium_summary_is_gzipped_in_one_configmap() -> None:
    summary = _summary(400)
    assert len(json.dumps(summary.to_dict())) > SUMMARY_INLINE_MAX
    [configmap] = summary_configmaps(RUN, summary, name=None)
    assert set(configmap["binaryData"]) == {"summary.json.gz"}
    assert "data" not in configmap
    _assert_owned_and_small([configmap])
    assert read_summary_configmaps([configmap]) == summary


def test_a_20k_variable_summary_is_split_into_parts_and_comes_back_whole(huge: RetrodictionSummary) -> None:
    configmaps = summary_configmaps(RUN, huge, name=None)
    index, *parts = configmaps
    assert len(parts) > 1
    listed = json.loads(index["data"]["summary-index.json"])
    assert listed["parts"] == [p["metadata"]["name"] for p in parts]
    assert listed["parts"][0] == "gdp-summary-part-0001"
    assert listed["encoding"] == "gzip"
    assert index["metadata"]["name"] == "gdp-summary"
    _assert_owned_and_small(configmaps)
    # Order does not matter, and unrelated ConfigMaps of the run may be mixed in.
    unrelated = {"metadata": {"name": "gdp-ckpt-0001"}, "binaryData": {"results.jsonl.gz": ""}}
    assert read_summary_configmaps([*reversed(configmaps), unrelated]) == huge


def test_writing_the_same_summary_twice_gives_identical_objects() -> None:
    summary = _summary(400)
    assert summary_configmaps(RUN, summary, name=None) == summary_configmaps(RUN, summary, name=None)


def test_a_missing_part_is_an_error_not_a_shorter_summary() -> None:
    index, *parts = summary_configmaps(RUN, _summary(2000), name=None, limits=SMALL_PARTS)
    with pytest.raises(ValueError, match="part-0002 is missing"):
        read_summary_configmaps([index, parts[0], *parts[2:]])


def test_a_part_from_another_write_fails_the_checksum() -> None:
    first = summary_configmaps(RUN, _summary(2000, seed=1), name=None, limits=SMALL_PARTS)
    second = summary_configmaps(RUN, _summary(2000, seed=2), name=None, limits=SMALL_PARTS)
    assert len(first) == len(second)
    mixed = [first[0], *first[1:-1], second[-1]]
    with pytest.raises(ValueError, match="stale or altered"):
        read_summary_configmaps(mixed)


def test_the_whole_is_checked_against_the_sha256_in_the_index() -> None:
    index, *parts = summary_configmaps(RUN, _summary(2000), name=None, limits=SMALL_PARTS)
    listed = json.loads(index["data"]["summary-index.json"])
    listed["sha256"] = "0" * 64
    tampered = {**index, "data": {"summary-index.json": json.dumps(listed)}}
    with pytest.raises(ValueError, match="sha256"):
        read_summary_configmaps([tampered, *parts])


def test_a_summary_too_big_for_configmaps_raises_instead_of_being_cut() -> None:
    with pytest.raises(SummaryTooLargeError, match=r"spec\.output\.uri"):
        summary_configmaps(RUN, _summary(2000), name=None, limits=SummaryLimits(budget=16 * 1024, max_parts=4))


def test_reading_needs_exactly_one_summary_entry() -> None:
    a = summary_configmaps(RUN, _summary(1), name="a")
    b = summary_configmaps(RUN, _summary(2), name="b")
    with pytest.raises(ValueError, match="expected one summary"):
        read_summary_configmaps([*a, *b])
    assert read_summary_configmaps([*a, *b], name="b") == _summary(2)
    with pytest.raises(ValueError, match="expected one summary"):
        read_summary_configmaps([])


def test_part_names_stay_within_the_object_name_limit() -> None:
    run = {**RUN, "name": "r" * 253}
    index, *parts = summary_configmaps(run, _summary(2000), name=None, limits=SMALL_PARTS)
    names = [index["metadata"]["name"], *(p["metadata"]["name"] for p in parts)]
    assert all(len(name) <= 253 for name in names)
    assert len(set(names)) == len(names)
    assert read_summary_configmaps([index, *parts]) == _summary(2000)


def test_a_configmap_holding_another_document_is_refused_naming_the_field() -> None:
    [configmap] = summary_configmaps(RUN, _summary(1), name=None)
    foreign = json.loads(configmap["data"]["summary.json"])
    del foreign["batches"]["total"]
    configmap["data"]["summary.json"] = json.dumps(foreign)
    with pytest.raises(SummaryError, match=r"^not a RetrodictionSummary: batches\.total: required field is missing$"):
        read_summary_configmaps([configmap])


def test_the_html_report_goes_beside_the_summary_gzipped_in_a_configmap_the_run_owns() -> None:
    html = "<html>" + "<p>trust</p>" * 10_000 + "</html>"
    configmap = report_configmap(RUN, html, summary_name=None)
    assert configmap is not None
    assert configmap["metadata"]["name"] == "gdp-summary-html"
    assert configmap["metadata"]["ownerReferences"] == [owner_reference(RUN, block_owner_deletion=False)]
    assert gzip.decompress(base64.b64decode(configmap["binaryData"]["report.html.gz"])).decode() == html
    named = report_configmap(RUN, html, summary_name="results")
    assert named is not None and named["metadata"]["name"] == "results-html"


def test_an_html_report_too_large_for_a_configmap_gets_none() -> None:
    noise = base64.b64encode(random.Random(3).randbytes(CONFIGMAP_BUDGET)).decode()  # does not compress
    assert report_configmap(RUN, noise, summary_name=None) is None


def test_the_html_report_is_labelled_apart_from_the_summary_so_a_reader_of_summaries_skips_it() -> None:
    configmap = report_configmap(RUN, "<html></html>", summary_name=None)
    assert configmap is not None
    assert configmap["metadata"]["labels"]["app.kubernetes.io/component"] == "html-report"
