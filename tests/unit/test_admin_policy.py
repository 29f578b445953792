"""The admin policy (api/policy.py): what it refuses, field by field, and how it reads the chart's JSON."""

from __future__ import annotations

import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import fsspec
import pytest
import yaml
from pydantic import ValidationError

from retrodiction.api.policy import (
    DEFAULT_SCHEMES,
    DEFAULT_STORAGE_OPTION_KEYS,
    NEVER_ALLOWED_SCHEMES,
    AdminPolicy,
    Violation,
    batch_bound,
    image_allowed,
    uri_scheme,
    violations,
)
from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.batches import slice_bounds, variable_groups
from tests.unit.training_spec import accepted_spec

DEFAULT_IMAGE = "ghcr.io/retrodiction/worker:0.1.0"
VALUES_YAML = Path(__file__).resolve().parents[2] / "charts" / "retrodiction-operator" / "values.yaml"


def _fields(found: list[Violation]) -> list[str]:
    return [violation.field for violation in found]


# --- a compliant spec ---------------------------------------------------------------------------------------------


def test_a_compliant_spec_has_no_violations() -> None:
    assert violations(accepted_spec(), AdminPolicy(), default_image=DEFAULT_IMAGE) == []


def test_a_compliant_spec_using_every_allowed_feature_has_no_violations() -> None:
    spec = accepted_spec(
        data={
            "uri": "s3://bucket/data.parquet",
            "storageOptions": {"endpoint_url": "https://minio:9000", "anon": True},
        },
        output={"uri": "gs://bucket/out/", "storageOptions": {"project": "p"}},
        dask={"mode": "local", "workers": 32, "image": DEFAULT_IMAGE},
    )
    assert violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE) == []


def test_a_violation_reads_as_field_then_rule() -> None:
    assert str(Violation("spec.dask.mode", "not allowed")) == "spec.dask.mode: not allowed"


# --- spec.dask.mode -----------------------------------------------------------------------------------------------


def test_address_mode_is_refused_by_default_naming_the_allowed_modes() -> None:
    spec = accepted_spec(dask={"mode": "address", "address": "tls://scheduler:8786"})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.dask.mode"
    assert found.rule == "'address' is not allowed by the admin policy (kubernetes, local)"


def test_a_mode_the_policy_lists_is_accepted() -> None:
    spec = accepted_spec(dask={"mode": "address", "address": "tls://scheduler:8786"})
    policy = AdminPolicy(dask_modes=("address",))
    assert violations(spec, policy, default_image=DEFAULT_IMAGE) == []


def test_local_mode_is_refused_when_the_policy_allows_only_kubernetes() -> None:
    spec = accepted_spec(dask={"mode": "local"})
    found = violations(spec, AdminPolicy(dask_modes=("kubernetes",)), default_image=DEFAULT_IMAGE)
    assert _fields(found) == ["spec.dask.mode"]
    assert "'local'" in found[0].rule


# --- spec.dask.image ----------------------------------------------------------------------------------------------


def test_no_image_means_the_default_image_and_is_allowed() -> None:
    assert violations(accepted_spec(dask={"image": None}), AdminPolicy(), default_image=DEFAULT_IMAGE) == []
    assert image_allowed(None, DEFAULT_IMAGE, AdminPolicy())


def test_the_operators_default_image_is_allowed_even_without_patterns() -> None:
    assert AdminPolicy().images == ()
    assert image_allowed(DEFAULT_IMAGE, DEFAULT_IMAGE, AdminPolicy())
    assert violations(accepted_spec(dask={"image": DEFAULT_IMAGE}), AdminPolicy(), default_image=DEFAULT_IMAGE) == []


def test_another_image_is_refused_when_no_pattern_matches() -> None:
    spec = accepted_spec(dask={"image": "docker.io/attacker/miner:latest"})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found == Violation(
        "spec.dask.image", "'docker.io/attacker/miner:latest' is not an image the admin policy allows"
    )


def test_an_image_matching_an_fnmatch_pattern_is_allowed() -> None:
    policy = AdminPolicy(images=("registry.example.com/team/*",))
    spec = accepted_spec(dask={"image": "registry.example.com/team/models:1.2"})
    assert violations(spec, policy, default_image=DEFAULT_IMAGE) == []


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/other/models:1.2",
        "REGISTRY.EXAMPLE.COM/team/models:1.2",  # fnmatchcase: patterns are case-sensitive
        "evil.com/registry.example.com/team/models:1.2",
        "registry.example.com/teamx/models:1.2",
    ],
)
def test_an_image_outside_every_pattern_is_refused(image: str) -> None:
    policy = AdminPolicy(images=("registry.example.com/team/*",))
    assert not image_allowed(image, DEFAULT_IMAGE, policy)
    assert _fields(violations(accepted_spec(dask={"image": image}), policy, default_image=DEFAULT_IMAGE)) == [
        "spec.dask.image"
    ]


def test_a_default_image_of_another_operator_is_not_allowed_here() -> None:
    assert not image_allowed(DEFAULT_IMAGE, "ghcr.io/retrodiction/worker:0.2.0", AdminPolicy())


# --- spec.dask.workers --------------------------------------------------------------------------------------------


def test_workers_at_the_limit_are_allowed() -> None:
    assert violations(accepted_spec(dask={"workers": 32}), AdminPolicy(), default_image=DEFAULT_IMAGE) == []


def test_workers_over_the_limit_are_refused_naming_the_count_and_the_limit() -> None:
    (found,) = violations(accepted_spec(dask={"workers": 33}), AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found == Violation("spec.dask.workers", "33 is over the limit of 32")


def test_the_worker_limit_follows_the_policy() -> None:
    policy = AdminPolicy(max_workers_per_run=4)
    (found,) = violations(accepted_spec(dask={"workers": 5}), policy, default_image=DEFAULT_IMAGE)
    assert found.rule == "5 is over the limit of 4"


# --- URIs ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "scheme"),
    [
        ("s3://bucket/key.csv", "s3"),
        ("S3://bucket/key.csv", "s3"),
        ("builtin://macrodata", "builtin"),
        ("/etc/passwd", "file"),
        ("relative/data.csv", "file"),
        ("file:///etc/passwd", "file"),
        ("gs://b/x", "gs"),
        ("data:,hello", "data"),
        ("data:text/csv;base64,ZGF0ZQo=", "data"),
        ("DATA:,hello", "data"),  # fsspec would read a local file of that name: refusing it as data is stricter
        ("c://windows/path.csv", "file"),  # one letter is a Windows drive to fsspec, not a protocol
    ],
)
def test_uri_scheme_reads_the_protocol_and_a_bare_path_is_file(uri: str, scheme: str) -> None:
    assert uri_scheme(uri) == scheme


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/key.csv",
        "builtin://macrodata",
        "/etc/passwd",
        "relative/data.csv",
        "file:///etc/passwd",
        "data:,hello",
        "data:text/csv;base64,ZGF0ZQo=",
        "c://windows/path.csv",
        "reference://",
        "simplecache://bucket/key",
        "memory://x",
        "https://169.254.169.254/latest/meta-data",
    ],
)
def test_uri_scheme_agrees_with_the_protocol_fsspec_opens(uri: str) -> None:
    protocol, _ = fsspec.core.split_protocol(uri)
    assert uri_scheme(uri) == (protocol or "file").lower()


def test_a_data_uri_scheme_not_in_the_allowlist_is_refused_naming_the_allowlist() -> None:
    spec = accepted_spec(data={"uri": "memory://bucket/data.csv"})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found == Violation(
        "spec.data.uri", "scheme 'memory' is not allowed by the admin policy (allowed: builtin, s3, gs, az)"
    )


def test_an_output_uri_scheme_not_in_the_allowlist_is_refused() -> None:
    spec = accepted_spec(output={"uri": "memory://out/"})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.output.uri"
    assert "'memory'" in found.rule


@pytest.mark.parametrize("uri", ["/etc/passwd", "data/local.csv", "file:///var/run/secrets/token"])
def test_a_bare_path_counts_as_file_and_is_refused_by_default(uri: str) -> None:
    (found,) = violations(accepted_spec(data={"uri": uri}), AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.data.uri"
    assert found.rule.startswith("scheme 'file' is not allowed")


def test_a_bare_path_is_allowed_when_the_policy_allows_file() -> None:
    policy = AdminPolicy(uri_schemes=("file",))
    spec = accepted_spec(data={"uri": "/data/local.csv"}, output={"uri": "/data/out/"})
    assert violations(spec, policy, default_image=DEFAULT_IMAGE) == []


@pytest.mark.parametrize(
    "uri",
    [
        "simplecache::s3://bucket/data.csv",
        "s3://bucket/data.csv::http://169.254.169.254/latest/",
        "zip://data.csv::s3://bucket/archive.zip",
    ],
)
def test_a_chained_url_is_refused_naming_the_field(uri: str) -> None:
    (found,) = violations(accepted_spec(data={"uri": uri}), AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found == Violation("spec.data.uri", "chained URLs (::) are not allowed in the cluster")


def test_a_chained_output_url_is_refused_even_when_every_link_is_allowed() -> None:
    spec = accepted_spec(output={"uri": "s3://a/b::s3://c/d"})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found == Violation("spec.output.uri", "chained URLs (::) are not allowed in the cluster")


@pytest.mark.parametrize("scheme", sorted(NEVER_ALLOWED_SCHEMES))
def test_a_never_allowed_scheme_is_refused_in_a_spec(scheme: str) -> None:
    (found,) = violations(
        accepted_spec(data={"uri": f"{scheme}://somewhere/data.csv"}), AdminPolicy(), default_image=DEFAULT_IMAGE
    )
    assert found.field == "spec.data.uri"
    assert found.rule.startswith(f"scheme {scheme!r} is not allowed")


@pytest.mark.parametrize("scheme", ["reference", "http", "https", "simplecache", "filecache", "blockcache", "data"])
def test_the_policy_itself_refuses_to_allow_a_never_allowed_scheme(scheme: str) -> None:
    with pytest.raises(ValidationError, match=f"{scheme} can never be allowed in a cluster"):
        AdminPolicy(uri_schemes=("s3", scheme))


def test_the_policy_refusal_names_every_never_allowed_scheme_given() -> None:
    with pytest.raises(ValidationError, match="http, reference can never be allowed in a cluster"):
        AdminPolicy.model_validate({"uriSchemes": ["s3", "reference", "http"]})


def test_no_never_allowed_scheme_is_among_the_defaults() -> None:
    assert not set(DEFAULT_SCHEMES) & NEVER_ALLOWED_SCHEMES
    assert AdminPolicy().uri_schemes == ("builtin", "s3", "gs", "az")


def test_a_data_url_without_slashes_is_refused_even_when_file_is_allowed() -> None:
    policy = AdminPolicy(uri_schemes=("file",))
    spec = accepted_spec(data={"uri": "data:text/csv;base64,ZGF0ZSx4CjIwMDAtMDEtMDEsMQo="})
    assert violations(spec, policy, default_image=DEFAULT_IMAGE) == [
        Violation("spec.data.uri", "scheme 'data' is not allowed by the admin policy (allowed: file)")
    ]


# --- storage options ----------------------------------------------------------------------------------------------


def test_default_storage_option_keys_are_accepted_for_data_and_output() -> None:
    options = dict.fromkeys(DEFAULT_STORAGE_OPTION_KEYS, "x")
    spec = accepted_spec(
        data={"uri": "s3://b/data.csv", "storageOptions": options},
        output={"uri": "s3://b/out/", "storageOptions": options},
    )
    assert violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE) == []


def test_unknown_data_storage_options_are_refused_listing_every_refused_key_sorted() -> None:
    spec = accepted_spec(
        data={"uri": "s3://b/data.csv", "storageOptions": {"secret": "s", "key": "k", "endpoint_url": "https://e"}}
    )
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.data.storageOptions"
    assert found.rule.startswith("keys key, secret are not allowed by the admin policy (allowed: anon, client_kwargs")
    assert "endpoint_url" not in found.rule.split("(allowed:")[0]


def test_unknown_output_storage_options_are_refused_on_the_output_field() -> None:
    spec = accepted_spec(output={"uri": "s3://b/out/", "storageOptions": {"cache_storage": "/root"}})
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.output.storageOptions"
    assert found.rule.startswith("keys cache_storage are not allowed")


def test_storage_option_keys_follow_the_policy() -> None:
    policy = AdminPolicy(storage_option_keys=("endpoint_url",))
    spec = accepted_spec(data={"uri": "s3://b/data.csv", "storageOptions": {"anon": True}})
    (found,) = violations(spec, policy, default_image=DEFAULT_IMAGE)
    assert found == Violation(
        "spec.data.storageOptions", "keys anon are not allowed by the admin policy (allowed: endpoint_url)"
    )


# --- the batch bound ----------------------------------------------------------------------------------------------


def test_batch_bound_is_time_slices_times_variable_groups() -> None:
    spec = accepted_spec(
        variables=[f"v{i:03d}" for i in range(120)],
        variablesPerBatch=50,
        window={"start": "2023-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z", "batchSizeDays": 7},
    )
    # 365 days / 7 -> 53 slices (the last one short); 120 variables / 50 -> 3 groups.
    assert batch_bound(spec) == 53 * 3


def test_batch_bound_of_a_window_shorter_than_a_slice_is_one_slice() -> None:
    spec = accepted_spec(window={"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T01:00:00Z", "batchSizeDays": 365})
    assert batch_bound(spec) == 1


def test_batch_bound_counts_an_exact_multiple_without_an_extra_slice() -> None:
    spec = accepted_spec(window={"start": "2024-01-01T00:00:00Z", "end": "2024-01-29T00:00:00Z", "batchSizeDays": 7})
    assert batch_bound(spec) == 4


def test_batch_bound_counts_a_one_second_tail_as_a_slice() -> None:
    spec = accepted_spec(window={"start": "2024-01-01T00:00:00Z", "end": "2024-01-29T00:00:01Z", "batchSizeDays": 7})
    assert batch_bound(spec) == 5


@pytest.mark.parametrize(
    ("start", "end", "days", "variables", "per_batch"),
    [
        ("1990-01-01T00:00:00Z", "2000-01-01T00:00:00Z", 365, 2, 50),
        ("2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 7, 120, 50),
        ("2020-02-28T12:00:00Z", "2020-03-01T12:00:00Z", 1, 7, 3),
        ("1950-01-01T00:00:00Z", "2024-06-30T00:00:00Z", 30, 100, 100),
        ("2000-01-01T00:00:00Z", "2000-01-01T00:00:00.000001Z", 1, 1, 1),
    ],
)
def test_batch_bound_is_what_the_planner_cuts_at_most(
    start: str, end: str, days: int, variables: int, per_batch: int
) -> None:
    spec = accepted_spec(
        variables=[f"v{i}" for i in range(variables)],
        variablesPerBatch=per_batch,
        window={"start": start, "end": end, "batchSizeDays": days},
    )
    slices = slice_bounds(spec.window.start, spec.window.end, days)
    groups = variable_groups(spec.variables, per_batch)
    assert batch_bound(spec) == len(slices) * len(groups)


def test_batch_bound_never_undercounts_a_millennia_window_with_a_microsecond_tail() -> None:
    spec = accepted_spec(
        variables=["x"],
        window={"start": "0001-01-01T00:00:00Z", "end": "9999-01-01T00:00:00.000001Z", "batchSizeDays": 1},
    )
    step = timedelta(days=1)
    planned = -(-(spec.window.end - spec.window.start) // step)  # what slice_bounds counts, without the list
    assert planned == 3_651_695
    assert batch_bound(spec) == planned


def _huge_spec() -> RetrodictionTrainingSpec:
    # 100 years of one-day slices (36,525) times 60 one-variable groups: about 2.2 million batches.
    return accepted_spec(
        variables=[f"v{i:02d}" for i in range(60)],
        variablesPerBatch=1,
        window={"start": "1900-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z", "batchSizeDays": 1},
    )


def test_two_million_batches_are_refused_naming_batch_size_days_and_the_limit() -> None:
    spec = _huge_spec()
    assert batch_bound(spec) == 36_524 * 60
    (found,) = violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)
    assert found.field == "spec.window.batchSizeDays"
    assert found.rule == (
        "the window and variables make up to 2191440 batches, over the limit of 100000 "
        "(raise batchSizeDays or variablesPerBatch)"
    )


def test_the_batch_limit_is_inclusive() -> None:
    spec = accepted_spec(window={"start": "2024-01-01T00:00:00Z", "end": "2024-01-29T00:00:00Z", "batchSizeDays": 7})
    assert batch_bound(spec) == 4
    assert violations(spec, AdminPolicy(max_batches_per_run=4), default_image=DEFAULT_IMAGE) == []
    assert _fields(violations(spec, AdminPolicy(max_batches_per_run=3), default_image=DEFAULT_IMAGE)) == [
        "spec.window.batchSizeDays"
    ]


def test_the_batch_bound_of_two_million_batches_is_computed_without_building_them() -> None:
    spec = _huge_spec()
    policy = AdminPolicy()
    tracemalloc.start()
    try:
        began = time.perf_counter()
        bound = batch_bound(spec)
        found = violations(spec, policy, default_image=DEFAULT_IMAGE)
        elapsed = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bound == 2_191_440
    assert _fields(found) == ["spec.window.batchSizeDays"]
    # Building even the 36,524 slices as tuples of datetimes would take megabytes; arithmetic takes next to nothing.
    assert peak < 64 * 1024, f"checking the spec allocated {peak} bytes"
    assert elapsed < 0.5, f"checking the spec took {elapsed:.3f}s"


def test_every_rule_a_spec_breaks_is_reported_in_field_order() -> None:
    spec = _huge_spec().model_copy(
        update={
            "dask": accepted_spec(
                dask={"mode": "address", "address": "tcp://x:8786", "workers": 99, "image": "evil"}
            ).dask,
            "data": accepted_spec(data={"uri": "http://169.254.169.254/", "storageOptions": {"key": "k"}}).data,
            "output": accepted_spec(output={"uri": "s3://a::s3://b", "storageOptions": {"secret": "s"}}).output,
        }
    )
    assert _fields(violations(spec, AdminPolicy(), default_image=DEFAULT_IMAGE)) == [
        "spec.dask.mode",
        "spec.dask.image",
        "spec.dask.workers",
        "spec.data.uri",
        "spec.output.uri",
        "spec.data.storageOptions",
        "spec.output.storageOptions",
        "spec.window.batchSizeDays",
    ]


# --- the policy document ------------------------------------------------------------------------------------------


def test_the_policy_parses_the_camel_case_json_the_chart_renders() -> None:
    policy = AdminPolicy.model_validate_json('{"daskModes":["kubernetes"],"uriSchemes":["s3"],"maxBatchesPerRun":5}')
    assert policy.dask_modes == ("kubernetes",)
    assert policy.uri_schemes == ("s3",)
    assert policy.max_batches_per_run == 5
    # What was not given keeps its default.
    assert policy.max_workers_per_run == 32
    assert policy.storage_option_keys == DEFAULT_STORAGE_OPTION_KEYS
    assert policy.ambient_credentials is False


def test_the_policy_parses_every_camel_case_key() -> None:
    policy = AdminPolicy.model_validate_json(
        """{"daskModes": ["address"], "images": ["r.example/*"], "uriSchemes": ["file"],
            "storageOptionKeys": ["anon"], "ambientCredentials": true, "maxBatchesPerRun": 7,
            "maxRowsPerBatch": 8, "maxWorkersPerRun": 9, "maxConcurrentRunsPerNamespace": 10,
            "maxHistoryRows": 11}"""
    )
    assert policy == AdminPolicy(
        dask_modes=("address",),
        images=("r.example/*",),
        uri_schemes=("file",),
        storage_option_keys=("anon",),
        ambient_credentials=True,
        max_batches_per_run=7,
        max_rows_per_batch=8,
        max_workers_per_run=9,
        max_concurrent_runs_per_namespace=10,
        max_history_rows=11,
    )


def test_the_chart_default_policy_is_the_models_default_policy() -> None:
    values = yaml.safe_load(VALUES_YAML.read_text())
    assert AdminPolicy.model_validate(values["policy"]) == AdminPolicy()


@pytest.mark.parametrize(
    "document",
    [
        '{"daskModes": ["kubernetes"], "maxBatches": 5}',  # a misspelt key is refused, not ignored
        '{"daskModes": ["cloud"]}',
        '{"maxBatchesPerRun": 0}',
        '{"maxWorkersPerRun": -1}',
    ],
)
def test_a_policy_document_with_a_mistake_is_refused(document: str) -> None:
    with pytest.raises(ValidationError):
        AdminPolicy.model_validate_json(document)


def test_the_policy_is_frozen() -> None:
    policy = AdminPolicy()
    with pytest.raises(ValidationError):
        policy.max_workers_per_run = 1000  # type: ignore[misc]
