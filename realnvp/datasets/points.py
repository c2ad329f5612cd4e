"""Load a user's 2-D point cloud from an uploaded file: delimited text, ``.npy`` or JSON.

Real files are messy. :func:`load_points` sniffs the format, the delimiter, a header, the text
encoding and a decimal comma; drops rows it cannot use and says how many and why (a
:class:`LoadReport`); and refuses a file it cannot turn into a usable cloud with a
:class:`PointsError` whose message says what was wrong and what is accepted. It never evaluates
anything from the file, never unpickles (``np.load(..., allow_pickle=False)`` always) and never
writes files. charset-normalizer decodes text that is not UTF-8; pandas splits lines into cells
(``pd.read_csv``), reads the numbers (``pd.to_numeric``) and holds every format as one table.

A cloud is usable when, after cleaning, it has at least :data:`MIN_POINTS` distinct points, every
value is finite with ``|value| <= 1e150`` (so squares stay finite), each of the two columns varies
enough for the trainer's standardisation (``std > 1e-9 * max(1, |mean|)``, the rule of
``realnvp.datasets.Standardizer.fit``) and the two columns are not (near-)collinear: the thinner
principal axis of the standardised cloud is at least ``1e-6`` of the wider one. More than
``max_points`` clean points are subsampled (seeded, file order kept).

>>> points, report = load_points(b"x,y\\n" + b"".join(b"%d,%d\\n" % (i, i * i % 7) for i in range(12)))
>>> points.shape, report.columns_used, report.format
((12, 2), ('x', 'y'), 'csv')
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import numbers
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pandas as pd

__all__ = ["MAX_BYTES", "MAX_POINTS", "MIN_POINTS", "LoadReport", "PointsError", "load_points"]

MAX_POINTS = 20_000
"""Default cap on the number of points returned; more clean points are subsampled."""
MAX_BYTES = 20 * 1024 * 1024
"""Default cap on the size of the file (bytes); a bigger one is refused before parsing."""
MIN_POINTS = 10
"""Fewest (distinct) points a cloud must keep after cleaning."""

_MAX_ABS = 1e150  # |value| above this: squares overflow float64 in a variance
_REL_STD = 1e-9  # same rule as datasets.Standardizer.fit: std <= 1e-9 * max(1, |mean|) is constant
_MIN_THICKNESS, _THIN_NOTE = 1e-6, 1e-3  # minor/major axis of the standardised cloud: below, a line; a note
_MAX_COLUMNS = 1000  # a wider "table" is refused (names and per-column work would balloon)
_SAMPLE = 200  # lines used to sniff delimiter, header, decimal comma and numeric columns
_WS = "whitespace"  # the `delimiter` reported for runs of spaces/tabs
_MARK = "\x01"  # appended to each line as a last field: where pandas puts it says how many fields the line has

# Per-cell codes; a row's code is the largest of its two chosen cells (the most severe reason).
_OK, _NONFINITE, _OVERFLOW, _EMPTY, _TEXT, _FIELDS = range(6)
_NUMBER = (_OK, _NONFINITE, _OVERFLOW)
_LABELS = {
    _NONFINITE: "NaN or infinite value",
    _OVERFLOW: "number too large for float64",
    _EMPTY: "empty cell",
    _TEXT: "non-numeric cell",
    _FIELDS: "wrong number of fields",
}
_JSON_LABELS = {**_LABELS, _FIELDS: "missing key or item"}
_NAN = ["nan", "+nan", "-nan"]
_MISSING = ["", "na", "n/a", "#n/a", "null", "none", "nil", "-", "--", "?", ".", "missing"]
_INDEX_NAME = re.compile(r"\s*(?:id|index|idx|row|row ?id|#|no\.?|unnamed: ?0)\s*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_BOMS = {codecs.BOM_UTF32_LE: "UTF-32", codecs.BOM_UTF32_BE: "UTF-32"}  # before UTF-16: its BOM starts the same
_BOMS |= {codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16"}
_PICKLE = "a Python pickle (never loaded: unpickling can run code)"
_BINARY_MAGIC = {  # a file starting so is refused by name
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    **dict.fromkeys((b"GIF87a", b"GIF89a"), "a GIF image"),
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (.zip, .npz, or an Excel/OpenDocument workbook)",
    b"PK\x05\x06": "an empty ZIP archive",
    b"\x1f\x8b": "a gzip-compressed file",
    b"BZh": "a bzip2-compressed file",
    b"\xfd7zXZ\x00": "an xz-compressed file",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an old Microsoft Office file (.xls/.doc)",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file",
    b"PAR1": "a Parquet file",
    b"SQLite format 3\x00": "an SQLite database",
    b"MATLAB 5.0 MAT-file": "a MATLAB .mat file",
    b"\x7fELF": "an executable program",
    b"MZ": "a Windows executable",
    **dict.fromkeys((bytes([0x80, p]) for p in (2, 3, 4, 5)), _PICKLE),
    b"RIFF": "a RIFF media file (audio/video/image)",
    b"\x00\x00\x01\x00": "an icon file",
}


class PointsError(ValueError):
    """A point cloud could not be used: says what was wrong and what is accepted.

    ``problem`` and ``expected`` hold the two halves of the message, for a page that styles them.

    >>> try:
    ...     load_points(b"")
    ... except PointsError as err:
    ...     print(err.problem)
    The file is empty.
    """

    def __init__(self, problem: str, expected: str) -> None:
        self.problem = problem
        self.expected = expected
        super().__init__(f"{problem} {expected}")


@dataclass
class LoadReport:
    """What :func:`load_points` read, used and dropped, for the page to show.

    ``rows_read`` counts data rows (after any header; blank and comment lines excluded) and
    ``rows_used`` the points returned, so ``rows_read == sum(dropped.values()) + (subsampled_from or
    rows_used)``. ``dropped`` maps a reason (e.g. ``"non-numeric cell"``, ``"NaN or infinite value"``)
    to a count of rows; ``available_columns`` names every numeric column (``"column 1"``... when the
    file has no header, numbered by position in the file); ``delimiter`` is ``","``, ``"\\t"``,
    ``";"``, ``"|"``, ``"whitespace"`` or None (npy, JSON); ``duplicates`` counts clean rows that
    repeat an earlier point.

    ``row_numbers`` (int64, one per point, in the points' order) says which row of the file each point
    is, numbered as a spreadsheet shows it: the 1-based line for text (with a header on line 1 the first
    data row is 2; blank and comment lines count), the 1-based record for ``.npy`` and JSON. ``table``
    holds every data row read (dropped ones too) with every column of the file, named as the report
    names them (the header's names, made unique; ``"column 1"``... without one) and indexed by those
    row numbers (index name ``"row"``): numeric columns as float64 (NaN where a cell is not a number),
    the others as read (text, or JSON values). Neither is part of the report's repr or equality.

    >>> points, report = load_points(b"a;b\\n" + b"".join(b"%d,5;%d\\n" % (i, i * i % 7) for i in range(12)))
    >>> report.delimiter, report.decimal_comma, report.format
    (';', True, 'delimited')
    >>> report.row_numbers[:3].tolist(), report.table.loc[report.row_numbers[1]].tolist()
    ([2, 3, 4], [1.5, 1.0])
    """

    rows_read: int
    rows_used: int
    dropped: dict[str, int]
    columns_used: tuple[str, str]
    available_columns: list[str]
    delimiter: str | None
    had_header: bool
    decimal_comma: bool
    format: str
    duplicates: int
    subsampled_from: int | None
    notes: list[str] = field(default_factory=list)
    row_numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)
    table: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)

    def summary(self) -> str:
        """Human-readable multi-line text for the page.

        >>> _, report = load_points(b"".join(b"%d %d\\n" % (i, i * i % 7) for i in range(12)))
        >>> print(report.summary().splitlines()[0])
        Read 12 rows (delimited text, separated by spaces/tabs, no header).
        """
        kind = {"csv": "CSV", "tsv": "TSV", "delimited": "delimited text", "npy": ".npy array", "json": "JSON"}
        what = kind.get(self.format, self.format)
        if self.delimiter is not None:
            what += ", separated by " + {"\t": "tabs", _WS: "spaces/tabs"}.get(self.delimiter, f"'{self.delimiter}'")
        what += ", decimal comma" if self.decimal_comma else ""
        if self.format != "npy":
            what += ", header row" if self.had_header else ", no header"
        (a, b), n_dropped = self.columns_used, sum(self.dropped.values())
        lines = [f"Read {self.rows_read:,} rows ({what}).", f"Using columns '{a}' and '{b}'."]
        if len(self.available_columns) > 2:
            n, listing = len(self.available_columns), ", ".join(self.available_columns)
            lines[1] = f"Using columns '{a}' and '{b}' of {n} numeric columns: {listing}."
        if self.dropped:
            parts = ", ".join(f"{n:,} × {reason}" for reason, n in self.dropped.items())
            lines.append(f"Dropped {n_dropped:,} row{_s(n_dropped)}: {parts}.")
        if self.subsampled_from is not None:
            lines.append(f"Kept a random subset of {self.rows_used:,} of {self.subsampled_from:,} points.")
        else:
            lines.append(f"{self.rows_used:,} points used.")
        if self.duplicates:
            lines.append(f"{self.duplicates:,} rows repeat an earlier point (kept).")
        return "\n".join(lines + [f"Note: {note}" for note in self.notes])


def load_points(
    source: Any,
    *,
    columns: Any = None,
    max_points: int = MAX_POINTS,
    max_bytes: int = MAX_BYTES,
    seed: int = 0,
    filename: str | None = None,
) -> tuple[np.ndarray, LoadReport]:
    """Read a 2-D point cloud from a user's file; return ``(points, report)``.

    ``source`` is a path (str or Path), bytes, or a binary or text file object (e.g. Streamlit's
    ``UploadedFile``, ``io.BytesIO``, ``io.StringIO``); a seekable file object is read from its start
    and its position restored. ``filename`` (else the path's or object's ``.name``) hints the format by
    extension; the content decides. ``columns`` picks two numeric columns by name or 0-based index
    among :attr:`LoadReport.available_columns` (default: the first two, passing over columns that look
    like a row index: a nameless first column under a header, or one named "id", "index"...). Rows with
    a non-numeric, empty, NaN or infinite cell in those columns are dropped and counted. More than
    ``max_points`` clean points are subsampled with ``seed`` (deterministic, file order kept).

    Returns a float64 array of shape ``(n, 2)`` and a :class:`LoadReport` (its ``row_numbers`` say which
    row of the file each point is). Raises :class:`PointsError` (a ``ValueError``) saying what was wrong
    and what is accepted.

    >>> import io
    >>> text = "x,y,label\\n" + "".join(f"{i},{i * i % 5},p{i}\\n" for i in range(10)) + "oops,1,p\\n"
    >>> points, report = load_points(io.StringIO(text))
    >>> points[:2].tolist(), report.rows_read, report.dropped
    ([[0.0, 0.0], [1.0, 1.0]], 11, {'non-numeric cell': 1})
    >>> report.row_numbers[-1].item(), report.table.loc[12, "label"], len(report.table)  # 12: "oops,1,p"
    (11, 'p', 11)
    """
    if not isinstance(max_points, numbers.Integral) or isinstance(max_points, bool) or max_points < MIN_POINTS:
        raise ValueError(f"max_points must be an integer >= {MIN_POINTS}, got {max_points!r}")
    if not isinstance(max_bytes, numbers.Integral) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    max_bytes = int(max_bytes)
    table = _parse(*_read_source(source, max_bytes, filename), max_bytes)
    names, numeric = table.names, table.numeric
    if len(numeric) < 2:
        listing = ", ".join(f"'{names[j]}'" for j in numeric) or "none"
        raise PointsError(
            f"The file has fewer than two numeric columns ({len(names)} column{_s(len(names))}; numeric: {listing}).",
            "Expected at least two columns of numbers (x and y). " + _accepted(max_bytes),
        )
    a, b = _pick(columns, table)
    used, ca, cb = (names[a], names[b]), table.codes[:, numeric.index(a)], table.codes[:, numeric.index(b)]
    codes = np.maximum(ca, cb)
    keep, dropped, notes = codes == _OK, {}, list(table.notes)
    for code in sorted(set(codes[~keep].tolist()), reverse=True):  # the most severe reason first
        rows = np.flatnonzero(codes == code)
        dropped[table.labels[code]] = len(rows)
        first = table.where(int(rows[0]), a if ca[rows[0]] == code else b)
        notes.append(f"{table.labels[code]}: {len(rows):,} row{_s(len(rows))} dropped, first at {first}.")
    points = table.shown.iloc[:, [a, b]].to_numpy(np.float64)[keep]
    row_numbers = table.shown.index.to_numpy(np.int64)[keep]
    if (n_clean := len(points)) < MIN_POINTS:
        why = "; dropped " + ", ".join(f"{n} × {r}" for r, n in dropped.items()) if dropped else ""
        raise PointsError(
            f"Too few points: {n_clean} usable row{_s(n_clean)} of {len(keep)} read{why}.",
            f"Expected at least {MIN_POINTS} rows with two finite numbers in columns '{used[0]}' and '{used[1]}'.",
        )
    for name, big in zip(used, np.abs(points).max(axis=0), strict=True):
        if big > _MAX_ABS:
            raise PointsError(
                f"Column '{name}' holds values as large as {big:.3g}; beyond ±{_MAX_ABS:.0e} squares overflow.",
                f"Expected magnitudes below {_MAX_ABS:.0e}: rescale the data (e.g. change units) before uploading.",
            )
    duplicates = n_clean - len(np.unique(points + 0.0, axis=0))  # + 0.0 makes -0.0 equal 0.0
    subsampled_from = None
    if n_clean > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(n_clean, size=int(max_points), replace=False))
        points, row_numbers, subsampled_from = points[chosen], row_numbers[chosen], n_clean
        notes.append(f"Subsampled {int(max_points):,} of {n_clean:,} points at random (seed {seed}, file order kept).")
    _check_shape(points, used, notes)
    if len(numeric) > 2 and columns is None:
        skipped = [f"'{names[j]}'" for j in numeric if j < b and j not in (a, b)]
        why = f" (skipped {', '.join(skipped)}: looks like a row index)" if skipped else ""
        notes.append(
            f"Using '{used[0]}' and '{used[1]}' of {len(numeric)} numeric columns{why}; pass columns= to choose others."
        )
    report = LoadReport(
        rows_read=len(keep),
        rows_used=len(points),
        dropped=dropped,
        columns_used=used,
        available_columns=[names[j] for j in numeric],
        delimiter=table.delimiter,
        had_header=table.had_header,
        decimal_comma=table.decimal_comma,
        format=table.format,
        duplicates=int(duplicates),
        subsampled_from=subsampled_from,
        notes=notes,
        row_numbers=row_numbers,
        table=table.shown,
    )
    return points, report


def _check_shape(points: np.ndarray, names: tuple[str, str], notes: list[str]) -> None:
    """Refuse clouds a flow cannot fit: too few distinct points, a constant column, a line."""
    line = "a flow cannot fit a density on a line"
    if (distinct := len(np.unique(points + 0.0, axis=0))) < MIN_POINTS:
        raise PointsError(
            f"Only {distinct} distinct point{_s(distinct)} (of {len(points)} rows): "
            "a density needs a cloud, not a few repeated points.",
            f"Expected at least {MIN_POINTS} distinct points.",
        )
    mean, std = points.mean(axis=0), points.std(axis=0)
    for j in (0, 1):
        if np.ptp(points[:, j]) == 0:
            raise PointsError(
                f"Column '{names[j]}' is constant (every value is {points[0, j]:g}): {line}.",
                "Expected two columns that both vary.",
            )
        if std[j] <= _REL_STD * abs(mean[j]):
            raise PointsError(
                f"Column '{names[j]}' is nearly constant: it varies by {std[j]:.3g} around {mean[j]:.6g}: {line}.",
                "Expected two columns that both vary (relative spread above 1e-9).",
            )
        if std[j] <= _REL_STD:
            raise PointsError(
                f"Column '{names[j]}' varies only on a scale of {std[j]:.3g}, below the 1e-9 the trainer's "
                "standardisation treats as constant.",
                "Expected a spread above 1e-9: rescale that column (e.g. change units) before uploading.",
            )
    if not np.isfinite(z := (points - mean) / std).all():
        raise PointsError(
            "The values cannot be standardised within floating point range.",
            "Expected moderate magnitudes: rescale the data before uploading.",
        )
    s = np.linalg.svd(z / math.sqrt(len(z)), compute_uv=False)
    if (thickness := float(s[1] / s[0])) < _MIN_THICKNESS:
        raise PointsError(
            f"Columns '{names[0]}' and '{names[1]}' are collinear: every point lies on one straight line "
            f"(after standardising, the cloud's width is {thickness:.1e} of its length); {line}.",
            "Expected two columns that vary independently (a 2-D cloud, not a line).",
        )
    if thickness < _THIN_NOTE:
        notes.append(
            f"The cloud is very thin (width {thickness:.1e} of its length after standardising): "
            "the flow may need many steps to fit it."
        )
    if (ratio := float(max(std) / min(std))) > 1e6:
        notes.append(
            f"The columns' spreads differ by a factor {ratio:.1e}; each is standardised before training, "
            "so both shapes count."
        )
    for j in (0, 1):
        if (levels := len(np.unique(points[:, j]))) <= 10:
            notes.append(f"Column '{names[j]}' takes only {levels} distinct values: the flow will see stripes.")


def _pick(columns: Any, table: _Table) -> tuple[int, int]:
    """The two columns (positions in the file) that ``columns=`` names, or the default pick."""
    names, numeric = table.names, table.numeric
    available = [names[j] for j in numeric]
    listing = ", ".join(f"{i}: '{n}'" for i, n in enumerate(available))
    expected = f"Expected columns= as two names or two 0-based indices among the numeric columns ({listing})."
    if columns is None:
        preferred = [j for j in numeric if j not in table.index_like and not _INDEX_NAME.fullmatch(names[j])]
        pick = preferred if len(preferred) >= 2 else numeric
        return pick[0], pick[1]
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__len__") or len(columns) != 2:
        raise PointsError(f"columns={columns!r} does not name two columns.", expected)
    picked = []
    for c in columns:
        if isinstance(c, numbers.Integral) and not isinstance(c, bool):
            if not 0 <= c < len(available):
                raise PointsError(
                    f"Column index {c} is out of range: there are {len(available)} numeric columns.", expected
                )
            picked.append(numeric[int(c)])
        elif isinstance(c, str) and c in available:
            picked.append(numeric[available.index(c)])
        elif isinstance(c, str):
            raise PointsError(f"Column '{c}' is not numeric." if c in names else f"There is no column '{c}'.", expected)
        else:
            raise PointsError(f"columns= entry {c!r} is neither a name nor an index.", expected)
    if picked[0] == picked[1]:
        raise PointsError(f"columns={columns!r} names the same column twice.", expected)
    return picked[0], picked[1]


def _s(n: int) -> str:
    return "s" if n != 1 else ""


def _accepted(max_bytes: int = MAX_BYTES) -> str:
    return (
        "Accepted: delimited text (CSV, TSV, or ';', '|' or space separated; header optional) with at least two "
        "numeric columns; a .npy file holding a 2-D numeric array (n, >= 2); or JSON as [[x, y], ...], "
        '[{"x": .., "y": ..}, ...] or {"x": [...], "y": [...]}; '
        f"at least {MIN_POINTS} points, at most {_size_text(max_bytes)}."
    )


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.3g} MB" if n >= 1024 * 1024 else f"{n / 1024:.3g} KB" if n >= 1024 else f"{n} bytes"


def _check_width(ncols: int) -> None:
    if ncols > _MAX_COLUMNS:
        raise PointsError(
            f"The table has {ncols:,} columns; at most {_MAX_COLUMNS:,} are read.",
            "Expected a table of points: one row per point, a few columns (x, y, ...).",
        )


# --------------------------------------------------------------------------- reading the source


def _read_source(source: Any, max_bytes: int, filename: str | None) -> tuple[bytes | str, str | None]:
    """The file's content (bytes, or str from a text file object) and its name, refusing oversize first."""
    name = filename
    if isinstance(source, str) and ("\n" in source or len(source) > 4096):
        raise PointsError(
            "A str source is read as a path, but this one looks like the file's content.",
            "Expected a path; pass content as bytes (text.encode()) or io.StringIO(text).",
        )
    if isinstance(source, (bytes, bytearray, memoryview)):
        if memoryview(source).nbytes > max_bytes:
            raise _too_big(memoryview(source).nbytes, max_bytes)
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        if (path := Path(source)).is_dir():
            raise PointsError(f"{path} is a folder, not a file.", "Expected a path to one file.")
        try:
            with path.open("rb") as fh:
                data = _read_file_object(fh, max_bytes)
        except PointsError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL character in the path
            reason = getattr(exc, "strerror", None) or exc
            raise PointsError(f"Could not read {path}: {reason}.", "Expected a readable file.") from exc
        name = filename or path.name
    elif callable(getattr(source, "read", None)):
        data = _read_file_object(source, max_bytes)
        name = filename or (source.name if isinstance(getattr(source, "name", None), str) else None)
    else:
        raise TypeError(
            f"source must be a path, bytes or a file object, got {type(source).__name__}; "
            "pass st.file_uploader's result, open(path, 'rb') or the file's bytes"
        )
    if (size := len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))) > max_bytes:
        raise _too_big(size, max_bytes)
    return data, (os.path.basename(name) if name else None)


def _read_file_object(fh: Any, max_bytes: int) -> bytes | str:
    """Read a file object from its start (restoring its position), refusing oversize before reading."""
    try:
        size = getattr(fh, "size", None)  # e.g. Streamlit's UploadedFile
        if isinstance(size, int) and not isinstance(size, bool) and size > max_bytes:
            raise _too_big(size, max_bytes)
        start = fh.tell() if getattr(fh, "seekable", lambda: False)() else None
        if start is not None:
            end = fh.seek(0, io.SEEK_END)
            if isinstance(end, int) and end > max_bytes and not isinstance(fh, io.TextIOBase):
                raise _too_big(end, max_bytes)
            fh.seek(0)
        try:
            data = fh.read(max_bytes + 1)
        finally:
            if start is not None:
                fh.seek(start)
    except PointsError:
        raise
    except UnicodeDecodeError as exc:
        raise PointsError(
            f"The text file object could not be decoded ({exc.reason}).",
            "Expected a binary file object (open(path, 'rb')) or UTF-8 text.",
        ) from exc
    except (OSError, ValueError) as exc:
        raise PointsError(f"Could not read the file: {exc}.", "Expected an open, readable file.") from exc
    if isinstance(data, (bytes, bytearray, memoryview, str)):
        return data if isinstance(data, str) else bytes(data)
    raise TypeError(f"the file object's read() returned {type(data).__name__}, expected bytes or str")


def _too_big(size: int, max_bytes: int) -> PointsError:
    return PointsError(
        f"The file is too large: {_size_text(size)} (limit {_size_text(max_bytes)}).",
        f"Expected a file of at most {_size_text(max_bytes)}; a few thousand points are plenty — "
        "subsample the data before uploading.",
    )


# --------------------------------------------------------------------------- format and encoding


def _parse(data: bytes | str, name: str | None, max_bytes: int) -> _Table:
    """Content -> table: .npy by its magic number, JSON if it looks like (or is named) JSON, else delimited text."""
    ext, notes = os.path.splitext(name)[1].lower() if name else "", []
    if not data.strip():
        raise PointsError(
            "The file is empty." if not data else "The file is empty (only blank lines).", _accepted(max_bytes)
        )
    if isinstance(data, str):
        text = _plausible(data, "readable", max_bytes)
    elif data.startswith(b"\x93NUMPY"):
        table = _parse_npy(data)
        table.notes += [f"'{name}' holds a .npy array; read it as one."] if ext != ".npy" and name else []
        return table
    elif kind := next((kind for magic, kind in _BINARY_MAGIC.items() if data.startswith(magic)), None):
        raise PointsError(f"This looks like {kind}, not a table of points.", _accepted(max_bytes))
    else:
        try:
            text, encoding = _decode(data, max_bytes)
        except PointsError:
            if ext != ".npy":
                raise
            raise PointsError(
                f"'{name}' is not a NumPy .npy file (it lacks the \\x93NUMPY header).",
                "Expected a file written by numpy.save with a 2-D numeric array.",
            ) from None
        notes += [f"Decoded the text as {encoding} (it is not UTF-8)."] if encoding != "utf-8" else []
    looks_json = text.lstrip(" \t\r\n")[:1] in ("[", "{")
    if not looks_json and ext != ".json":
        table = _parse_text(text, ext, max_bytes)
        notes += [f"'{name}' holds delimited text, not a .npy array; read it as such."] if ext == ".npy" else []
    else:
        try:
            table = _parse_json(text)
        except PointsError as json_error:  # invalid JSON not dressed as JSON (or not named .json) may be a table
            if "not valid JSON" not in json_error.problem or (looks_json and ext == ".json"):
                raise
            try:
                table = _parse_text(text, ext, max_bytes)
            except PointsError:
                if looks_json:
                    raise json_error from None
                raise
            notes += [] if looks_json else [f"'{name}' holds delimited text, not JSON; read it as such."]
    table.notes[:0] = notes
    return table


def _decode(data: bytes, max_bytes: int) -> tuple[str, str]:
    """Bytes -> (text, encoding): UTF-8 if it is one, else what charset-normalizer finds (a UTF-16/32 BOM decides)."""
    bom = next((name for mark, name in _BOMS.items() if data.startswith(mark)), None)
    if bom is None and b"\x00" in data:
        even, odd, half = data[0::2].count(0), data[1::2].count(0), max(1, len(data) // 2)
        if max(even, odd) >= 0.4 * half and min(even, odd) <= 0.05 * half:
            raise PointsError(
                "The file looks like UTF-16 text without a byte-order mark (every other byte is zero), "
                "so its encoding cannot be told for sure.",
                "Expected UTF-8 text, or UTF-16 with a byte-order mark: re-save it as 'CSV UTF-8'.",
            )
        raise PointsError(
            "The file looks binary (it contains zero bytes), not like text or a .npy array.", _accepted(max_bytes)
        )
    if bom:
        if (match := charset_normalizer.from_bytes(data).best()) is None or not match.bom:
            raise PointsError(
                f"The file starts with a {bom} byte-order mark but is not valid {bom} text.",
                "Expected UTF-8 text (or UTF-16 with a byte-order mark). " + _accepted(max_bytes),
            )
        encoding = match.encoding
    else:
        try:
            return _plausible(data.decode("utf-8"), "utf-8", max_bytes), "utf-8"
        except UnicodeDecodeError:
            pass
        # Numbers say nothing about an encoding: charset-normalizer judges the lines that hold other bytes.
        evidence = b"\n".join(line for line in data.splitlines() if not line.isascii())[:65536]
        if not (matches := list(charset_normalizer.from_bytes(evidence))):
            raise PointsError(
                "The file is not UTF-8 text and does not read as plausible text in any other encoding (binary data?).",
                _accepted(max_bytes),
            )
        # A short header reads equally well in many code pages: then take Windows-1252, what Excel writes.
        low = min(m.chaos for m in matches)
        tied = any(m.chaos <= low and "cp1252" in m.could_be_from_charset for m in matches)
        encoding = "windows-1252" if tied else matches[0].encoding
    encoding = encoding.replace("_", "-")
    return _plausible(data.decode(encoding, errors="replace"), encoding, max_bytes), encoding


def _plausible(text: str, encoding: str, max_bytes: int) -> str:
    """Refuse text full of control characters (binary data that happens to decode); drop a BOM and a DOS EOF."""
    text = text.removeprefix("\ufeff").rstrip("\x1a")
    head = text[:65536]  # a sample decides; stray control characters later become non-numeric cells
    if (bad := len(_CONTROL.findall(head))) > 0.001 * len(head) or "\x00" in text:
        raise PointsError(
            f"The file contains {bad:,} control characters: it looks binary, not like {encoding} text.",
            _accepted(max_bytes),
        )
    return text


# --------------------------------------------------------------------------- the table every format becomes


@dataclass
class _Table:
    """A file read into one pandas frame: ``shown`` holds every column (named; numeric ones as float64) and a row per
    data row, indexed by row number; ``codes`` says, per row and numeric column, whether the cell is a usable number
    and if not why; ``where(i, j)`` names the cell at row position ``i`` of column ``j``, for a note."""

    format: str
    shown: pd.DataFrame
    numeric: list[int]  # the columns worth offering
    codes: np.ndarray  # (rows, len(numeric)) int8
    where: Callable[[int, int], str]
    labels: dict[int, str] = field(default_factory=lambda: _LABELS)
    delimiter: str | None = None
    had_header: bool = False
    decimal_comma: bool = False
    notes: list[str] = field(default_factory=list)
    index_like: list[int] = field(default_factory=list)  # numeric columns the default pick skips

    @property
    def names(self) -> list[str]:
        return [str(name) for name in self.shown.columns]


def _table(
    fmt: str,
    cells: pd.DataFrame,
    numeric: list[int],
    where: Callable[[int, int], str],
    *,
    too_long: np.ndarray | None = None,
    raw: pd.DataFrame | None = None,
    **meta: Any,
) -> _Table:
    """Read the numeric columns of ``cells`` (text; numbers for .npy); ``raw``: what the table shows of the others;
    ``too_long``: rows with too many fields (or JSON items), all their cells unusable."""
    if fmt == "npy":
        values = cells.iloc[:, numeric].to_numpy(np.float64)
        codes = np.where(np.isfinite(values), _OK, _NONFINITE).astype(np.int8)
    else:
        values, codes = _classify(cells.iloc[:, numeric], meta.get("decimal_comma", False))
    if too_long is not None:
        codes[too_long] = _FIELDS
    shown = (cells if raw is None else raw).copy()
    for col, j in enumerate(numeric):
        shown.isetitem(j, values[:, col])
    return _Table(fmt, shown, numeric, codes, where, **meta)


def _classify(cells: Any, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cell text of any shape (NaN: the row lacks that cell) -> (float values, codes); ``pd.to_numeric`` reads them."""
    shape = np.shape(cells)
    text = pd.Series(np.asarray(cells, dtype=object).ravel(), dtype=object)
    absent = text.isna().to_numpy()
    text = text.fillna("").str.strip()
    values = pd.to_numeric(text.str.replace(",", ".", regex=False) if decimal_comma else text, errors="coerce")
    values = values.to_numpy(dtype=np.float64)
    lower, inf = text.str.lower(), np.isinf(values)
    codes = np.full(len(text), _TEXT, dtype=np.int8)
    codes[lower.isin(_MISSING).to_numpy()] = _EMPTY
    codes[lower.isin(_NAN).to_numpy() | inf] = _NONFINITE
    codes[inf & ~lower.str.contains("inf", regex=False).to_numpy()] = _OVERFLOW  # e.g. 1e400
    codes[np.isfinite(values)] = _OK
    codes[absent] = _FIELDS
    return values.reshape(shape), codes.reshape(shape)


def _kinds(cells: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per cell (any shape): non-blank; a number as read with a decimal point (NaN/inf too); a number only a decimal
    comma makes ("1,5"); a number written with a point ("1.5")."""
    text = pd.Series(np.asarray(cells, dtype=object).ravel(), dtype=object).fillna("").astype(str).str.strip()
    point, comma = (text.str.contains(c, regex=False).to_numpy().reshape(np.shape(cells)) for c in ".,")
    dot = np.isin(_classify(cells)[1], _NUMBER)
    comma = comma & ~point & np.isin(_classify(cells, decimal_comma=True)[1], (_OK, _OVERFLOW))
    return text.ne("").to_numpy().reshape(np.shape(cells)), dot, comma, dot & point


def _numeric(codes: np.ndarray) -> list[int]:
    """Columns where at least half of the sampled cells present are numbers (NaN/inf included)."""
    n_numbers, present = np.isin(codes, _NUMBER).sum(axis=0), (~np.isin(codes, (_EMPTY, _FIELDS))).sum(axis=0)
    return [j for j in range(codes.shape[1]) if n_numbers[j] and 2 * n_numbers[j] >= present[j]]


def _widths(nonblank: np.ndarray) -> np.ndarray:
    """Per row: the fields up to the last non-blank one (a trailing delimiter adds none)."""
    nonblank = np.atleast_2d(nonblank)
    return np.where(nonblank.any(axis=1), nonblank.shape[1] - np.argmax(nonblank[:, ::-1], axis=1), 0)


# --------------------------------------------------------------------------- delimited text


def _split(lines: list[str], delim: str, width: int) -> pd.DataFrame:
    """Lines -> cell text, ``width`` columns (NaN where a line has fewer fields), indexed by position in ``lines``.

    pandas reads them, each line on its own: a quote a line leaves open is closed first, so it cannot run on into
    the next lines; each line is tagged with its position (a first field) and :data:`_MARK` (a last field, which
    lands just after the line's own fields). A line with more than ``width`` fields is left out.
    """
    ws, d = delim == _WS, re.escape(delim)
    sep, series = " " if ws else delim, pd.Series(lines, dtype=object)
    if not ws:  # close the quotes a line leaves open, as pandas reads them ("" inside is a quote; spaces skipped)
        cell = rf'[ ]*+(?:"(?:[^"]|"")*+"[^{d}]*+|[^"{d} ][^{d}]*+)?+'
        closed = series.str.fullmatch(rf"{cell}(?:{d}{cell})*+").astype(bool)
        series = series.where(closed | ~series.str.contains('"', regex=False), series + '"')
    first = sep.join(["0"] * (width + 2))  # sets the number of columns: pandas skips a line with more fields
    text = "\n".join([first, *(f"{i}{sep}{line}{sep}{_MARK}" for i, line in enumerate(series))])
    options = dict(header=None, dtype=str, na_filter=False, skipinitialspace=True, on_bad_lines="skip", engine="c")
    split_at, quoting = (r"\s+", csv.QUOTE_NONE) if ws else (delim, csv.QUOTE_MINIMAL)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=split_at, quoting=quoting, **options).iloc[1:]
    except (pd.errors.ParserError, ValueError):  # not expected once quotes are closed; then no line has cells
        return pd.DataFrame(index=pd.RangeIndex(0), columns=range(width), dtype=object)
    cells = frame.iloc[:, 1:].to_numpy(dtype=object)
    mark = cells == _MARK
    n_fields = np.where(mark.any(axis=1), width - np.argmax(mark[:, ::-1], axis=1), 0)
    cells = np.where(np.arange(width + 1) < n_fields[:, None], cells, np.nan)[:, :width]
    out = pd.DataFrame(cells, index=frame.iloc[:, 0].astype(int).to_numpy(), dtype=object)
    return out.replace(r'^"(.*)"$', r"\1", regex=True) if ws else out  # whitespace: quotes are not syntax


def _max_fields(line: str, delim: str) -> int:
    """At least the number of fields of ``line`` (a quoted delimiter counts too)."""
    return len(line.split()) if delim == _WS else line.count(delim) + 1


def _scan(lines: list[str], delim: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Lines split by ``delim`` -> (their cells, a row per line; each line's width; each line's count of numbers)."""
    cells = _split(lines, delim, min(max(_max_fields(line, delim) for line in lines), _MAX_COLUMNS + 1))
    wide = np.setdiff1d(np.arange(len(lines)), cells.index)
    cells = cells.reindex(range(len(lines)))
    nonblank, dot, comma, _ = _kinds(cells)
    widths, nums = _widths(nonblank), (dot | comma).sum(axis=1)
    for i in wide:  # more fields than the others: split naively (quotes ignored), count as above
        nonblank, dot, comma, _ = _kinds(lines[i].split() if delim == _WS else lines[i].split(delim))
        widths[i], nums[i] = _widths(nonblank)[0], (dot | comma)[: _MAX_COLUMNS + 1].sum()
    return cells, widths, nums


def _sniff(sample: list[str], ext: str, max_bytes: int) -> tuple[str, int, pd.DataFrame, np.ndarray, np.ndarray]:
    """Best delimiter and the usual row width: rows with the usual width whose cells are numbers win.

    Returns (delimiter, usual width, the sample's cells, each line's width, each line's count of numbers)."""
    order = ["\t", ",", ";", "|", _WS] if ext in (".tsv", ".tab") else [",", "\t", ";", "|", _WS]
    best, scans = None, {delim: _scan(sample, delim) for delim in order}
    for delim, (_, widths, nums) in scans.items():
        if data_widths := widths[nums >= 2].tolist():
            k = Counter(data_widths).most_common(1)[0][0]
            score = float((nums[widths == k] / k).sum()) / len(sample)
            if best is None or score > best[0] + 1e-12:
                best = (score, delim, k)
    if best is None:
        raise _no_table(sample, [cells for cells, _, _ in scans.values()], max_bytes)
    return (best[1], best[2], *scans[best[1]])


def _no_table(lines: list[str], splits: list[pd.DataFrame], max_bytes: int) -> PointsError:
    """The message when no delimiter gives rows of two numbers."""
    if (singles := int(np.logical_or(*_kinds(lines)[1:3]).sum())) >= max(1, len(lines) // 2):
        return PointsError(
            f"The file has a single column of numbers ({singles:,} rows); a point cloud needs two.",
            "Expected at least two numeric columns (x and y) per row. " + _accepted(max_bytes),
        )
    if len(lines) == 1:
        cells = max(([c for c in cells.iloc[0] if isinstance(c, str)] for cells in splits), key=len)
        if len(cells) >= 2 and not np.logical_or(*_kinds(cells)[1:3]).any():
            shown = ", ".join(c.strip() for c in cells)
            return PointsError(
                f"The file has a header ({shown[:80]}{'...' if len(shown) > 80 else ''}) but no data rows.",
                f"Expected at least {MIN_POINTS} rows of numbers below the header. " + _accepted(max_bytes),
            )
        return PointsError(
            f"The file has a single line ({lines[0][:60]!r}) and no row with two numbers.",
            f"Expected at least {MIN_POINTS} rows of numbers. " + _accepted(max_bytes),
        )
    if not any(ch.isdigit() for line in lines for ch in line):
        return PointsError(
            "The file contains no numbers: it looks like prose or labels, not a table of points.", _accepted(max_bytes)
        )
    return PointsError(
        "No row of the file has two numbers side by side (checked ',', ';', tab, '|' and spaces as separators).",
        _accepted(max_bytes),
    )


def _parse_text(text: str, ext: str, max_bytes: int) -> _Table:
    lines, line_no, comments = [], [], 0
    for i, line in enumerate(re.split(r"\r\n|\r|\n", text), 1):
        if (s := line.strip()) and s[0] in "#%":
            comments += 1
        elif s:
            lines.append(line)
            line_no.append(i)
    if not lines:
        problem = "The file has only comment lines." if comments else "The file is empty (only blank lines)."
        raise PointsError(problem, _accepted(max_bytes))
    sample = [line[:262_144] for line in lines[:_SAMPLE]]  # a row wider than 256 KB is refused anyway
    delim, k, rows, widths, nums = _sniff(sample, ext, max_bytes)

    # Header and preamble: the first row before the first data row with (about) k fields and no numbers; a row
    # exactly as wide as the data (or one less: R-style row names) is preferred over, e.g., a title line.
    first_data = int(np.argmax(nums >= 2))
    named = [i for i in range(first_data) if widths[i] >= max(2, k - 1) and nums[i] == 0]
    header = next((i for i in named if widths[i] in (k, k - 1)), named[0] if named else None)
    if header is not None:
        start, skipped, ncols = header + 1, header, max(k, int(widths[header]))
    else:
        start = skipped = next((i for i in range(first_data) if widths[i] >= 2), first_data)
        ncols = k
    if (n := len(lines) - start) <= 3 and k >= MIN_POINTS:
        raise PointsError(
            f"The file has {n} row{_s(n)} of {'over ' if any(len(line) > 262_144 for line in lines[start:]) else ''}"
            f"{k:,} values: it looks transposed (one row per coordinate).",
            "Expected one point per row, x and y as columns (e.g. np.savetxt(path, points) with points of shape "
            "(n, 2), not (2, n)).",
        )
    _check_width(ncols)
    row_names = header is not None and widths[header] == k - 1 and k >= 3  # R-style: the header lacks that name
    raw = [] if header is None else ([""] if row_names else []) + list(rows.iloc[header, : widths[header]])
    names: list[str] = []  # the header's names, made unique; "column 1"... where there is none
    for j, name in enumerate(raw + [""] * (ncols - len(raw))):
        name = name.strip().strip('"').strip() or f"column {j + 1}"
        names.append(f"{name} (column {j + 1})" if name in names else name)
    notes = [f"Skipped {comments:,} comment line{_s(comments)} (starting with # or %)."] if comments else []
    notes += [f"Skipped {skipped:,} line{_s(skipped)} of text before the table."] if skipped else []

    # Decimal comma: numbers written "1,5" and none written "1.5" (commas can only be inside a cell when the
    # delimiter is not ',' or the cell is quoted).
    sampled = rows.iloc[start:].reindex(columns=range(ncols))
    _, _, comma, dotted = _kinds(sampled)
    decimal_comma = bool(comma.any()) and not dotted.any()
    if comma.any() and dotted.any():
        notes.append("Some numbers use a decimal comma and others a decimal point; cells with a comma were not read.")
    numeric = _numeric(_classify(sampled, decimal_comma)[1])
    # A nameless first column under a header (R row names, pandas' index) numbers the rows; so may "id".
    index_like = [j for j in numeric if _INDEX_NAME.fullmatch(names[j])]
    if header is not None and 0 in numeric and (row_names or (not raw[0].strip() and any(c.strip() for c in raw))):
        index_like.insert(0, 0)

    # Every data line, with one column more than the table to catch the rows that are too long.
    data, n = lines[start:], len(lines) - start
    cells = _split(data, delim, ncols + 1)
    if len(lost := np.setdiff1d(np.arange(n), cells.index)):  # more fields still: maybe trailing empty ones
        again = _split([data[i].rstrip(" \t" + ("" if delim == _WS else delim)) for i in lost], delim, ncols + 1)
        cells = pd.concat([cells, again.fillna("").set_axis(lost[again.index])]).sort_index()  # none was short
        lost = np.setdiff1d(lost, lost[again.index])
    read = cells.reindex(range(n))
    too_long = read[ncols].fillna("").str.strip().ne("").to_numpy() | np.isin(np.arange(n), lost)
    cells = read.iloc[:, :ncols].set_axis(names, axis=1).set_axis(pd.Index(line_no[start:], name="row"))

    def where(i: int, j: int) -> str:
        if not too_long[i] and isinstance(cell := cells.iat[i, j], str):
            return f"line {line_no[start + i]}, column '{names[j]}': {cell[:40]!r}"
        if i in lost:  # more fields than were read: split this line alone (up to a limit) to count them
            row = _split([data[i]], delim, min(_max_fields(data[i], delim), _MAX_COLUMNS + 1)).to_numpy()
            fields = _widths(_kinds(row)[0])[0] if len(row) else f"over {_MAX_COLUMNS + 1:,}"
        else:
            fields = _widths(_kinds(read.iloc[i].to_numpy())[0])[0]
        return f"line {line_no[start + i]} has {fields} fields, expected {ncols}: {data[i][:60]!r}"

    fmt = {",": "csv", "\t": "tsv"}.get(delim, "delimited")
    meta = dict(delimiter=delim, had_header=header is not None, decimal_comma=decimal_comma, notes=notes)
    return _table(fmt, cells, numeric, where, too_long=too_long, index_like=index_like, **meta)


# --------------------------------------------------------------------------- JSON


def _parse_json(text: str) -> _Table:
    expected = (
        'Expected JSON as [[x, y], ...], [{"x": .., "y": ..}, ...] or {"x": [...], "y": [...]} '
        f"with at least {MIN_POINTS} points."
    )
    try:
        obj = json.loads(text, parse_constant=str)  # NaN, Infinity stay text (read as numbers later): NaN is "absent"
    except RecursionError as exc:
        raise PointsError("The JSON is nested too deeply to read.", expected) from exc
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        raise PointsError(f"The file is not valid JSON: {where}.", expected) from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise PointsError(f"The file is not valid JSON: {exc}.", expected) from exc
    notes: list[str] = []
    if isinstance(obj, dict) and len(obj) == 1:
        (key, inner), *_ = obj.items()
        if isinstance(inner, list) and inner and all(isinstance(r, (list, dict)) for r in inner):
            obj = inner
            notes.append(f"Read the points from the JSON key '{key}'.")
    too_long, row, base = None, "item", 1  # where a row is, for a note: "item 1"... or "index 0"...
    if isinstance(obj, dict):
        if not (cols := {k: v for k, v in obj.items() if isinstance(v, list)}):
            raise PointsError("The JSON object holds no lists of values.", expected)
        if len(set(map(len, cols.values()))) > 1:
            shown = ", ".join(f"{k}: {len(v)}" for k, v in cols.items())
            raise PointsError(
                f"The JSON columns have different lengths ({shown}), so points cannot be paired.", expected
            )
        if ignored := [k for k in obj if k not in cols]:
            notes.append("Ignored JSON keys that are not lists: " + ", ".join(ignored[:10]) + ".")
        _check_width(len(cols))
        frame, row, base = pd.DataFrame(cols, dtype=object), "index", 0
    elif not isinstance(obj, list):
        raise PointsError(f"The JSON holds a single {type(obj).__name__}, not a list of points.", expected)
    elif not obj:
        raise PointsError("The JSON list is empty.", expected)
    elif all(isinstance(r, list) for r in obj):
        if not (wide := [len(r) for r in obj if len(r) >= 2]):
            raise PointsError("The JSON rows have fewer than two values each.", expected)
        _check_width(k := Counter(wide).most_common(1)[0][0])  # the usual width; shorter rows lack items
        padded = [r[:k] + [np.nan] * (k - len(r)) for r in obj]
        frame = pd.DataFrame(padded, columns=[f"column {j + 1}" for j in range(k)], dtype=object)
        too_long = np.array([len(r) > k for r in obj])
    elif all(isinstance(r, dict) for r in obj):
        _check_width(len(keys := list(dict.fromkeys(key for r in obj for key in r))))
        frame = pd.DataFrame(obj, columns=keys, dtype=object)
    elif all(not isinstance(r, (list, dict)) for r in obj):
        raise PointsError(f"The JSON is a flat list of {len(obj):,} values, not a list of points.", expected)
    else:
        raise PointsError("The JSON list mixes points, objects and single values.", expected)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")

    def where(i: int, j: int) -> str:
        cell = frame.iat[i, j]
        shown = "missing" if isinstance(cell, float) and math.isnan(cell) else json.dumps(cell, default=str)[:40]
        return f"{row} {i + base}, '{frame.columns[j]}': {shown}"

    cells = frame.map(_json_text).astype(object)
    numeric = _numeric(_classify(cells.iloc[:_SAMPLE])[1])
    meta = dict(labels=_JSON_LABELS, had_header=too_long is None, notes=notes)
    return _table("json", cells, numeric, where, too_long=too_long, raw=frame, **meta)


def _json_text(value: Any) -> Any:
    """A JSON value as the text a table cell would hold; NaN (only ever a missing key or item) stays NaN."""
    if isinstance(value, str) or (isinstance(value, float) and math.isnan(value)):
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return type(value).__name__  # true/false, lists, objects: not numbers
    return repr(value)  # pandas reads it back to the same float


# --------------------------------------------------------------------------- .npy


def _parse_npy(data: bytes) -> _Table:
    expected = "Expected a .npy file (numpy.save) holding a 2-D numeric array of shape (n, 2) or (n, >2)."
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read_header(fp)
    except Exception as exc:  # malformed header: numpy raises ValueError, EOFError, SyntaxError...
        raise PointsError(f"The .npy header is unreadable ({exc}).", expected) from exc
    if dtype.hasobject:
        raise PointsError(
            "The .npy file holds Python objects (dtype=object); such arrays are never loaded "
            "(that would need allow_pickle, which can run code).",
            expected + " Convert it first, e.g. np.save(path, arr.astype(float)).",
        )
    if (need := math.prod(shape) * dtype.itemsize) > (payload := len(data) - fp.tell()):
        promise = f"its header promises {need:,} bytes of data, it holds {payload:,}"
        raise PointsError(f"The .npy file is truncated: {promise}.", expected)
    if dtype.names:  # a record array: one record per point, a column per field
        if len(shape) != 1:
            raise PointsError(
                f"The .npy record array has shape {shape}; expected one record per point (1-D).", expected
            )
        _check_width(len(names := list(dtype.names)))
        arr = _np_load(data, expected)
        frame = pd.DataFrame({n: arr[n] if arr[n].ndim == 1 else list(arr[n]) for n in names})
        numeric = [j for j, n in enumerate(names) if dtype[n].kind in "iuf" and dtype[n].shape == ()]
        where = lambda i, j: f"record {i}, field '{names[j]}': {float(arr[i][names[j]])!r}"  # noqa: E731
    else:
        if dtype.kind not in "iuf":
            kinds = {"b": "booleans", "c": "complex numbers", "U": "text", "S": "bytes", "M": "dates", "m": "durations"}
            raise PointsError(f"The .npy array holds {kinds.get(dtype.kind, str(dtype))} (dtype {dtype}).", expected)
        if len(shape) != 2:
            raise PointsError(f"The .npy array is {len(shape)}-D, shape {shape}; a table of points is 2-D.", expected)
        _check_width(k := shape[1])
        if k < 2:
            raise PointsError(f"The .npy array has {k} column{_s(k)} (shape {shape}).", expected)
        if shape[0] < MIN_POINTS <= k and shape[0] <= 3:
            raise PointsError(
                f"The .npy array has shape {shape}: only {shape[0]} rows but {k} columns — it looks transposed.",
                expected + " Save arr.T instead.",
            )
        arr = _np_load(data, expected)
        frame = pd.DataFrame(arr.astype(np.float64), columns=[f"column {j + 1}" for j in range(k)])
        numeric, where = list(range(k)), lambda i, j: f"row {i}, column {j}: {float(arr[i, j])!r}"
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return _table("npy", frame, numeric, where, had_header=bool(dtype.names))


def _np_load(data: bytes, expected: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # corrupt payload
        raise PointsError(f"The .npy file could not be read ({exc}).", expected) from exc
