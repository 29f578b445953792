"""Storage options as a process sees them (data/credentials.py, DataSource in data/model.py): credentials from the
process's own environment, anonymous access otherwise, and never a secret inside what is pickled to a worker."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import pytest

from retrodiction.api.training import RetrodictionTrainingSpec
from retrodiction.config import TrainingConfig
from retrodiction.data.credentials import credentials_from_environment, resolve_storage_options
from retrodiction.data.model import DataSource
from retrodiction.execution.task import BatchTask

PREFIX = "RETRODICTION_DATA_CREDENTIALS_"
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


# --- credentials_from_environment ---------------------------------------------------------------------------------


def test_credentials_are_the_variables_under_the_prefix_without_it() -> None:
    environ = {
        f"{PREFIX}key": "AKIAEXAMPLE",
        f"{PREFIX}secret": SECRET,
        "RETRODICTION_OUTPUT_CREDENTIALS_key": "other",
        "HOME": "/home/retrodiction",
    }
    assert credentials_from_environment(PREFIX, environ) == {"key": "AKIAEXAMPLE", "secret": SECRET}


def test_a_variable_named_exactly_the_prefix_is_not_a_credential() -> None:
    assert credentials_from_environment(PREFIX, {PREFIX: "x", f"{PREFIX}token": "t"}) == {"token": "t"}


def test_the_prefix_is_case_sensitive() -> None:
    assert credentials_from_environment(PREFIX, {f"{PREFIX.lower()}key": "k"}) == {}


def test_no_variable_under_the_prefix_gives_no_credentials() -> None:
    assert credentials_from_environment(PREFIX, {"PATH": "/usr/bin"}) == {}


def test_key_case_and_empty_values_are_kept_as_the_secret_has_them() -> None:
    environ = {f"{PREFIX}client_kwargs": "{}", f"{PREFIX}Token": "", f"{PREFIX}endpoint_url": "https://minio:9000"}
    assert credentials_from_environment(PREFIX, environ) == {
        "client_kwargs": "{}",
        "Token": "",
        "endpoint_url": "https://minio:9000",
    }


def test_without_a_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{PREFIX}secret", SECRET)
    assert credentials_from_environment(PREFIX) == {"secret": SECRET}


# --- resolve_storage_options --------------------------------------------------------------------------------------


def test_credentials_are_merged_over_the_specs_options() -> None:
    environ = {f"{PREFIX}key": "AKIAEXAMPLE", f"{PREFIX}secret": SECRET, f"{PREFIX}endpoint_url": "https://secret"}
    resolved = resolve_storage_options(
        "s3://bucket/data.parquet",
        {"endpoint_url": "https://public", "region_name": "eu-west-1"},
        credentials_prefix=PREFIX,
        anonymous=False,
        environ=environ,
    )
    assert resolved == {
        "endpoint_url": "https://secret",
        "region_name": "eu-west-1",
        "key": "AKIAEXAMPLE",
        "secret": SECRET,
    }


def test_resolving_leaves_the_specs_options_untouched() -> None:
    options = {"region_name": "eu-west-1"}
    resolve_storage_options(
        "s3://b/k", options, credentials_prefix=PREFIX, anonymous=False, environ={f"{PREFIX}secret": SECRET}
    )
    resolve_storage_options("s3://b/k", options, credentials_prefix=None, anonymous=True, environ={})
    assert options == {"region_name": "eu-west-1"}


@pytest.mark.parametrize(
    ("uri", "anonymous"),
    [
        ("s3://bucket/data.parquet", {"anon": True}),
        ("S3://bucket/data.parquet", {"anon": True}),
        ("s3a://bucket/data.parquet", {"anon": True}),
        ("gs://bucket/data.parquet", {"token": "anon"}),
        ("gcs://bucket/data.parquet", {"token": "anon"}),
        ("az://container/data.parquet", {"anon": True}),
        ("abfs://container/data.parquet", {"anon": True}),
        ("abfss://container/data.parquet", {"anon": True}),
    ],
)
def test_anonymous_access_tells_each_object_store_to_send_no_credentials(
    uri: str, anonymous: dict[str, object]
) -> None:
    resolved = resolve_storage_options(uri, {"region_name": "r"}, credentials_prefix=None, anonymous=True, environ={})
    assert resolved == {"region_name": "r", **anonymous}


@pytest.mark.parametrize(
    "uri", ["builtin://macrodata", "/data/local.csv", "relative.csv", "file:///data/local.csv", "memory://x.csv"]
)
def test_anonymous_access_adds_nothing_for_stores_without_credentials(uri: str) -> None:
    resolved = resolve_storage_options(uri, {"k": "v"}, credentials_prefix=None, anonymous=True, environ={})
    assert resolved == {"k": "v"}


def test_anonymous_access_overrides_an_anon_option_of_the_spec() -> None:
    resolved = resolve_storage_options("s3://b/k", {"anon": False}, credentials_prefix=None, anonymous=True, environ={})
    assert resolved == {"anon": True}


def test_credentials_win_over_anonymous_access() -> None:
    resolved = resolve_storage_options(
        "s3://bucket/data.parquet",
        {},
        credentials_prefix=PREFIX,
        anonymous=True,
        environ={f"{PREFIX}key": "AKIAEXAMPLE", f"{PREFIX}secret": SECRET},
    )
    assert resolved == {"key": "AKIAEXAMPLE", "secret": SECRET}
    assert "anon" not in resolved


def test_credentials_win_over_anonymous_access_on_gcs_too() -> None:
    resolved = resolve_storage_options(
        "gs://bucket/data.parquet",
        {},
        credentials_prefix=PREFIX,
        anonymous=True,
        environ={f"{PREFIX}token": "/var/run/gcp/key.json"},
    )
    assert resolved == {"token": "/var/run/gcp/key.json"}


def test_without_credentials_or_anonymity_the_options_pass_through_for_ambient_credentials() -> None:
    resolved = resolve_storage_options(
        "s3://b/k", {"region_name": "r"}, credentials_prefix=None, anonymous=False, environ={f"{PREFIX}secret": SECRET}
    )
    assert resolved == {"region_name": "r"}


def test_an_empty_prefix_is_no_prefix() -> None:
    resolved = resolve_storage_options(
        "s3://b/k", {}, credentials_prefix="", anonymous=True, environ={"HOME": "/root", "secret": SECRET}
    )
    assert resolved == {"anon": True}


# --- DataSource ---------------------------------------------------------------------------------------------------


def test_a_data_source_reads_its_credentials_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{PREFIX}key", "AKIAEXAMPLE")
    monkeypatch.setenv(f"{PREFIX}secret", SECRET)
    source = DataSource(
        "s3://bucket/data.parquet", storage_options={"region_name": "r"}, credentials_prefix=PREFIX, anonymous=True
    )
    assert source.resolved_storage_options() == {"region_name": "r", "key": "AKIAEXAMPLE", "secret": SECRET}


def test_a_data_source_reads_the_environment_each_time_it_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    source = DataSource("s3://bucket/data.parquet", credentials_prefix=PREFIX)
    monkeypatch.setenv(f"{PREFIX}secret", "first")
    assert source.resolved_storage_options() == {"secret": "first"}
    monkeypatch.setenv(f"{PREFIX}secret", "rotated")
    assert source.resolved_storage_options() == {"secret": "rotated"}


def test_an_anonymous_data_source_sends_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{PREFIX}secret", SECRET)
    source = DataSource("gs://bucket/data.parquet", anonymous=True)
    assert source.resolved_storage_options() == {"token": "anon"}


def test_a_data_source_on_a_laptop_passes_its_options_through() -> None:
    source = DataSource("/data/local.csv", storage_options={"auto_mkdir": True})
    assert source.resolved_storage_options() == {"auto_mkdir": True}


def test_a_data_source_pickles_without_the_secret_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials never travel in the task graph: a worker gets the prefix, and reads the values itself."""
    monkeypatch.setenv(f"{PREFIX}key", "AKIA-KEY-VALUE-0001")
    monkeypatch.setenv(f"{PREFIX}secret", SECRET)
    source = DataSource("s3://bucket/data.parquet", storage_options={"region_name": "r"}, credentials_prefix=PREFIX)
    assert source.resolved_storage_options()["secret"] == SECRET  # the secret is there to be found

    blob = pickle.dumps(source)

    assert SECRET.encode() not in blob
    assert b"AKIA-KEY-VALUE-0001" not in blob
    assert PREFIX.encode() in blob


def test_a_pickled_data_source_resolves_the_credentials_of_the_process_that_unpickles_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{PREFIX}secret", "driver-secret")
    blob = pickle.dumps(DataSource("s3://bucket/data.parquet", credentials_prefix=PREFIX))
    monkeypatch.setenv(f"{PREFIX}secret", "worker-secret")
    restored = pickle.loads(blob)
    assert restored == DataSource("s3://bucket/data.parquet", credentials_prefix=PREFIX)
    assert restored.resolved_storage_options() == {"secret": "worker-secret"}


def test_a_batch_task_built_from_a_specs_config_pickles_without_the_secret_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a Dask worker is sent for one batch: the data's source names the prefix, never the values."""
    monkeypatch.setenv(f"{PREFIX}secret", SECRET)
    spec = RetrodictionTrainingSpec.model_validate(
        {
            "variables": ["realgdp"],
            "window": {"start": "1990-01-01T00:00:00Z", "end": "2000-01-01T00:00:00Z"},
            "data": {"uri": "s3://bucket/data.parquet", "credentialsSecretRef": {"name": "data-creds"}},
        }
    )
    config = TrainingConfig.from_spec(spec, credentials_prefix=PREFIX, anonymous=True)
    task = BatchTask(
        batch_id="000000-0000",
        source=config.source,
        variables=("realgdp",),
        start=datetime(1990, 1, 1, tzinfo=UTC),
        end=datetime(1991, 1, 1, tzinfo=UTC),
        load_start=None,
        engine=config.engine,
    )
    assert task.source.resolved_storage_options() == {"secret": SECRET}
    assert SECRET.encode() not in pickle.dumps(task)
