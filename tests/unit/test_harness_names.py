"""Per-test object names are valid DNS-1123 labels that show the test's name and never repeat."""

from __future__ import annotations

import re

import pytest

from retrodiction_harness.names import MAX_LABEL, dns_label

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize(
    "test_name",
    [
        "test_status_subresource",
        "test_cel[Backwards-Case_2]",
        "test_" + "very_long_name_" * 10,
        "Test__UPPER__and..dots",
        "test_---",
        "___",
    ],
)
def test_name_is_a_dns_1123_label(test_name: str) -> None:
    name = dns_label(test_name)
    assert DNS_1123_LABEL.match(name), name
    assert len(name) <= MAX_LABEL


def test_name_shows_the_test_without_its_prefix() -> None:
    assert dns_label("test_cel[Backwards-Case_2]", suffix="abcde") == "cel-backwards-case-2-abcde"


def test_long_names_are_cut_before_the_suffix() -> None:
    name = dns_label("test_" + "x" * 100, suffix="abcde")
    assert name == "x" * (MAX_LABEL - 6) + "-abcde"


def test_two_names_for_the_same_test_differ() -> None:
    assert len({dns_label("test_same") for _ in range(20)}) == 20
