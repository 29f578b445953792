"""Bundled datasets: present, documented, and loaded with the shapes, dates and gaps of their sources."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
import pytest

from retrodiction.data import DataError, DataSource, builtin_datasets, describe, read_frame

MACRO_VARIABLES = [
    "realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi",
    "m1", "tbilrate", "unemp", "pop", "infl", "realint",
]  # fmt: skip


def _builtin_dir() -> resources.abc.Traversable:
    return resources.files("retrodiction.data").joinpath("builtin")


def test_every_listed_dataset_has_a_one_line_description_a_file_and_a_documented_origin() -> None:
    datasets = builtin_datasets()
    documentation = _builtin_dir().joinpath("DATASETS.md").read_text()
    assert {"macrodata", "co2"} <= set(datasets)
    for name, description in datasets.items():
        assert description.strip()
        assert "\n" not in description
        assert _builtin_dir().joinpath(f"{name}.csv").is_file()
        assert f"## {name}\n" in documentation
    assert documentation.count("COPYRIGHT:") == len(datasets)
    assert documentation.count("SOURCE:") == len(datasets)


def test_macrodata_holds_203_quarters_1959q1_to_2009q3_of_12_series() -> None:
    frame = read_frame(DataSource("builtin://macrodata"), MACRO_VARIABLES)
    expected_times = pd.period_range("1959Q1", "2009Q3", freq="Q").start_time.to_numpy()
    np.testing.assert_array_equal(frame.times, expected_times)
    assert frame.values.shape == (203, 12)
    assert frame.variables == tuple(MACRO_VARIABLES)
    assert not np.isnan(frame.values).any()
    # First and last rows of statsmodels' macrodata.csv.
    assert frame.values[0, 0] == 2710.349
    assert frame.values[-1, MACRO_VARIABLES.index("unemp")] == 9.6


def test_co2_is_weekly_from_1958_to_2001_with_its_missing_weeks_as_nan() -> None:
    frame = read_frame(DataSource("builtin://co2"), ["co2"])
    assert frame.times[0] == np.datetime64("1958-03-29")
    assert frame.times[-1] == np.datetime64("2001-12-29")
    assert set(np.diff(frame.times)) == {np.timedelta64(7, "D")}
    # statsmodels documents 2225 observed weeks in this series.
    assert np.isfinite(frame.values).sum() == 2225
    assert np.isnan(frame.values).sum() == len(frame.times) - 2225


@pytest.mark.parametrize(
    ("name", "variable", "first", "last", "rows"),
    [
        ("sunspots", "sunactivity", "1700-01-01", "2008-01-01", 309),
        ("nile", "volume", "1871-01-01", "1970-01-01", 100),
    ],
)
def test_yearly_datasets_have_one_row_per_year(name: str, variable: str, first: str, last: str, rows: int) -> None:
    frame = read_frame(DataSource(f"builtin://{name}"), [variable])
    assert frame.values.shape == (rows, 1)
    assert frame.times[0] == np.datetime64(first)
    assert frame.times[-1] == np.datetime64(last)


def test_describe_of_a_builtin_dataset_lists_its_numeric_series_and_time_axis() -> None:
    info = describe(DataSource("builtin://macrodata"))
    assert info.columns == dict.fromkeys(MACRO_VARIABLES, True)
    np.testing.assert_array_equal(info.times, read_frame(DataSource("builtin://macrodata"), []).times)


def test_unknown_builtin_name_is_a_uri_error_listing_the_available_names() -> None:
    with pytest.raises(DataError) as caught:
        read_frame(DataSource("builtin://nosuch"), ["x"])
    assert caught.value.field == "spec.data.uri"
    assert "nosuch" in caught.value.message
    assert "macrodata" in caught.value.message
