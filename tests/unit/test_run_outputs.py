import pytest

from retrodiction.api.outputs import checkpoint_uri, run_prefix, summary_uri

UID = "0b6a3c1e-1111-2222-3333-444455556666"


@pytest.mark.parametrize("prefix", ["s3://bucket/prefix/", "s3://bucket/prefix", "s3://bucket/prefix//"])
def test_summary_goes_under_namespace_name_and_uid_whatever_the_trailing_slash(prefix: str) -> None:
    assert summary_uri(prefix, "team-a", "gdp", UID) == f"s3://bucket/prefix/team-a/gdp/{UID}/summary.json"


def test_checkpoints_are_a_folder_beside_the_summary() -> None:
    assert checkpoint_uri("gs://b/p/", "ns", "run", UID) == f"gs://b/p/ns/run/{UID}/checkpoints/"
    assert checkpoint_uri("file:///tmp/out", "ns", "run", UID).startswith(
        run_prefix("file:///tmp/out", "ns", "run", UID)
    )


def test_a_recreated_run_of_the_same_name_gets_another_location() -> None:
    assert summary_uri("s3://b/", "ns", "run", "uid-1") != summary_uri("s3://b/", "ns", "run", "uid-2")


@pytest.mark.parametrize(
    ("namespace", "name", "uid"), [("", "run", UID), ("ns", "a/b", UID), ("ns", "run", ""), ("ns", "..", UID)]
)
def test_path_segments_must_be_single_non_empty_names(namespace: str, name: str, uid: str) -> None:
    with pytest.raises(ValueError, match="path segment"):
        summary_uri("s3://b/", namespace, name, uid)


def test_an_empty_output_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="output uri"):
        summary_uri("", "ns", "run", UID)
