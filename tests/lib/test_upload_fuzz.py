"""Property tests for realnvp.datasets.points.load_points: any input gives a usable cloud or a PointsError, nothing else.

"Usable" is what the trainer needs: a finite float64 (n, 2) array with n >= MIN_POINTS distinct points,
both columns varying, not collinear, and accepted by ``realnvp.datasets.Standardizer.fit``; and the report's
row numbers and table lead back from every point to its row of the file.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from realnvp.datasets import Standardizer
from realnvp.datasets.points import MIN_POINTS, LoadReport, PointsError, load_points

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _load_or_refuse(source: Any, **kwargs: Any) -> tuple[np.ndarray, LoadReport] | None:
    """load_points either refuses with a PointsError or returns a cloud that passes every check."""
    try:
        points, report = load_points(source, **kwargs)
    except PointsError as err:
        assert err.problem and err.expected
        return None
    assert isinstance(points, np.ndarray) and points.dtype == np.float64
    assert points.ndim == 2 and points.shape[1] == 2 and points.shape[0] >= MIN_POINTS
    assert np.isfinite(points).all()
    assert len(np.unique(points, axis=0)) >= MIN_POINTS
    std = points.std(axis=0)
    assert (std > 0).all()
    z = (points - points.mean(axis=0)) / std
    s = np.linalg.svd(z, compute_uv=False)
    assert s[1] / s[0] > 1e-7  # not a line
    Standardizer.fit(points)
    assert report.rows_used == len(points)
    assert report.rows_read == sum(report.dropped.values()) + (report.subsampled_from or report.rows_used)
    assert isinstance(report.summary(), str)
    rows = report.row_numbers  # each point's row in the file, in file order; the table holds that row
    assert rows.shape == (len(points),) and rows.min() >= 1 and (np.diff(rows) > 0).all()
    assert report.table.index.name == "row" and len(report.table) == report.rows_read
    np.testing.assert_array_equal(report.table.loc[rows, list(report.columns_used)].to_numpy(dtype=np.float64), points)
    return points, report


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    _load_or_refuse(data)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from([b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\xef\xbb\xbf", b""]))
def test_random_bytes_behind_a_magic_number(data: bytes, prefix: bytes) -> None:
    _load_or_refuse(prefix + data)


@FUZZ
@given(st.text(max_size=3000), st.sampled_from([None, "p.csv", "p.tsv", "p.json", "p.npy", "p.txt"]))
def test_random_text(text: str, filename: str | None) -> None:
    _load_or_refuse(text.encode("utf-8"), filename=filename)
    _load_or_refuse(io.StringIO(text), filename=filename)


_TABLE_ALPHABET = "0123456789" * 4 + ".,;|\t \n\n\n\r\"'-+eE#%xyabnNaIifINF[]{}:"


@FUZZ
@given(st.text(alphabet=_TABLE_ALPHABET, min_size=20, max_size=2000))
def test_table_like_text(text: str) -> None:
    """Text made of the characters tables are made of reaches the sniffing and cell-parsing paths."""
    _load_or_refuse(text.encode("utf-8"))


_number = st.one_of(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.floats(allow_nan=False, allow_infinity=False)).map(
    repr
)
_junk = st.sampled_from(
    ["nan", "inf", "-Infinity", "1e400", "abc", "", " ", "NA", "null", "1,5", '"2.5"', '"3,5"', "  7  ", "1_0", "x"]
)
_cell = st.one_of(_number, _number, st.integers(-50, 50).map(str), _junk, st.text(_TABLE_ALPHABET, max_size=4))


@st.composite
def messy_tables(draw: st.DrawFn) -> bytes:
    """Mostly-numeric rows with junk cells, ragged rows, headers, comments, BOMs and mixed line endings."""
    delim = draw(st.sampled_from([",", ";", "\t", " ", "|", ", "]))
    width = draw(st.integers(2, 4))
    rows = draw(
        st.lists(
            st.one_of(
                st.lists(_number, min_size=width, max_size=width),
                st.lists(_number, min_size=width, max_size=width),
                st.lists(_number, min_size=width, max_size=width),
                st.lists(_cell, min_size=width, max_size=width),
                st.lists(_cell, max_size=width + 2),
            ),
            min_size=12,
            max_size=60,
        )
    )
    lines = [delim.join(row) for row in rows]
    if draw(st.booleans()):
        lines.insert(0, delim.join(f"col{j}" for j in range(width)))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "# a comment")
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@FUZZ
@given(
    messy_tables(),
    st.integers(10, 100),
    st.one_of(st.none(), st.none(), st.tuples(st.integers(0, 3), st.integers(0, 3))),
)
def test_messy_tables(data: bytes, max_points: int, columns: tuple[int, int] | None) -> None:
    _load_or_refuse(data, max_points=max_points, columns=columns)


_any = st.floats(allow_nan=True, allow_infinity=True, width=64)


@FUZZ
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 60),
    st.integers(1, 4),
    st.sampled_from([1e-300, 1e-12, 1e-3, 1.0, 1e9, 1e149, 1e200]),
    st.lists(st.tuples(st.integers(0, 59), st.integers(0, 3), _any), max_size=6),
    st.sampled_from([",", ";", "\t", " ", "|"]),
    st.booleans(),
    st.integers(10, 50),
)
def test_numeric_csv(
    seed: int,
    n: int,
    k: int,
    scale: float,
    specials: list[tuple[int, int, float]],
    delim: str,
    header: bool,
    max_points: int,
) -> None:
    """Random numeric tables (some cells made extreme) round-trip exactly when accepted."""
    values = np.random.default_rng(seed).normal(size=(n, k)) * scale
    for i, j, v in specials:
        if i < n and j < k:
            values[i, j] = v
    lines = [delim.join(f"c{j}" for j in range(k))] if header else []
    lines += [delim.join(repr(float(v)) for v in row) for row in values]
    result = _load_or_refuse(("\n".join(lines) + "\n").encode(), max_points=max_points)
    if result is None:
        return
    points, report = result
    assert k >= 2 and report.had_header is header and report.format == {",": "csv", "\t": "tsv"}.get(delim, "delimited")
    clean = values[np.isfinite(values[:, :2]).all(axis=1), :2]
    if report.subsampled_from is None:
        np.testing.assert_array_equal(points, clean)
    else:
        assert report.subsampled_from == len(clean) and len(points) == max_points
        index = {tuple(row): i for i, row in enumerate(clean.tolist())}
        positions = [index[tuple(row)] for row in points.tolist()]
        assert positions == sorted(positions)


@FUZZ
@given(
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.float16]),
        st.tuples(st.integers(0, 40), st.integers(0, 4)),
    ),
    st.booleans(),
)
def test_numeric_npy_and_json(values: np.ndarray, as_json: bool) -> None:
    """Random arrays saved as .npy or JSON pairs round-trip (rows with NaN/inf dropped) when accepted."""
    if as_json:
        data = json.dumps(values.tolist()).encode()
    else:
        buf = io.BytesIO()
        np.save(buf, values)
        data = buf.getvalue()
    result = _load_or_refuse(data)
    if result is None:
        return
    points, _ = result
    as_float = values.astype(np.float64)[:, :2]
    np.testing.assert_array_equal(points, as_float[np.isfinite(as_float).all(axis=1)])
