"""Load a user's 2-D point cloud from a file: delimited text, ``.npy`` or JSON.

:func:`load_points` sniffs the format, the encoding (charset-normalizer), the delimiter, a header and a decimal comma;
pandas reads the numbers. Unusable rows are dropped and counted in a :class:`LoadReport`; a file that gives no usable
cloud raises :class:`PointsError`. Nothing is evaluated or unpickled. A usable cloud has :data:`MIN_POINTS` distinct
finite points, ``|value| <= 1e150``, two columns that vary (``std > 1e-9 * max(1, |mean|)``, as ``Standardizer.fit``
needs) and is no line (after standardising, its thin axis is at least 1e-6 of its long one).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer
import numpy as np
import pandas as pd

__all__ = ["MAX_BYTES", "MAX_POINTS", "MIN_POINTS", "LoadReport", "PointsError", "load_points"]

MAX_POINTS = 20_000  # default cap on the points returned; more clean points are subsampled
MAX_BYTES = 20 * 1024 * 1024  # default cap on the file's size; a bigger one is refused before parsing
MIN_POINTS = 10  # fewest (distinct) points a cloud must keep after cleaning

_MAX_ABS, _REL_STD, _MIN_THICKNESS, _THIN_NOTE = 1e150, 1e-9, 1e-6, 1e-3  # the rules of the module docstring
_MAX_COLUMNS, _SAMPLE, _WIDE, _WS = 1000, 200, 262_144, "whitespace"  # widest table; lines sniffed; widest line
_OK, _NONFINITE, _OVERFLOW, _EMPTY, _TEXT, _FIELDS = range(6)  # per cell; a row takes its worst chosen cell's code
_NUMBER = (_OK, _NONFINITE, _OVERFLOW)
_LABELS = ["", "NaN or infinite value", "number too large for float64", "empty cell", "non-numeric cell"]
_MISSING = ["", "na", "n/a", "#n/a", "null", "none", "nil", "-", "--", "?", ".", "missing"]
_INDEX_NAME = re.compile(r"\s*(?:id|index|idx|row|row ?id|#|no\.?|unnamed: ?0)\s*", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_BLANKS, _QUOTED = re.compile(r"[ \t]+"), re.compile('^"(.*)"$')  # whitespace delimiter; quotes around a cell
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
_BINARY_MAGIC = {  # files people upload by mistake, refused by name
    b"\x89PNG\r\n\x1a\n": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    **dict.fromkeys((b"GIF87a", b"GIF89a"), "a GIF image"),
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (.zip, .npz, or an Excel/OpenDocument workbook)",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "an old Microsoft Office file (.xls/.doc)",
    b"\x1f\x8b": "a gzip-compressed file",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file",
    b"PAR1": "a Parquet file",
    b"MATLAB 5.0 MAT-file": "a MATLAB .mat file",
    **{bytes([0x80, p]): "a Python pickle (never loaded: unpickling can run code)" for p in (2, 3, 4, 5)},
}
_SHAPES = '[[x, y], ...], [{"x": .., "y": ..}, ...] or {"x": [...], "y": [...]}'
_ACC = (  # what is accepted: the second half of most messages
    "Accepted: delimited text (CSV, TSV, or ';', '|' or space separated; header optional) with two numeric columns; "
    f"a .npy file holding a 2-D numeric array (n, >= 2); or JSON as {_SHAPES}; at least {MIN_POINTS} points."
)
_JSON = f"Expected JSON as {_SHAPES} with at least {MIN_POINTS} points."
_NPY = "Expected a .npy file (numpy.save) holding a 2-D numeric array of shape (n, 2) or (n, >2)."
_CLOUD = f"Expected a 2-D cloud: {MIN_POINTS}+ distinct points, two columns that vary (relative spread > 1e-9)."
_SCALE = "Expected magnitudes below 1e+150 and spreads above 1e-9: rescale the data (e.g. change units)."


class PointsError(ValueError):
    """A point file could not be used: ``problem`` says what was wrong, ``expected`` what is accepted."""

    def __init__(self, problem: str, expected: str = _ACC) -> None:
        self.problem, self.expected = problem, expected
        super().__init__(f"{problem} {expected}")


@dataclass
class LoadReport:
    """What :func:`load_points` read, used and dropped, for the page to show.

    ``rows_read == sum(dropped.values()) + (subsampled_from or rows_used)``. ``row_numbers``: each point's spreadsheet
    row (line, or record); ``table``: every row read and column, indexed by those numbers (not in repr or equality).

    >>> points, report = load_points(b"a;b\\n" + b"".join(b"%d,5;%d\\n" % (i, i * i % 7) for i in range(12)))
    >>> report.row_numbers[:3].tolist(), report.table.loc[3].tolist(), report.summary().splitlines()[0]
    ([2, 3, 4], [1.5, 1.0], "Read 12 rows (delimited text, separated by ';', decimal comma, header row).")
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
        """Human-readable multi-line text for the page."""
        kind = {"csv": "CSV", "tsv": "TSV", "delimited": "delimited text", "npy": ".npy array", "json": "JSON"}
        sep = {None: "", "\t": "tabs", _WS: "spaces/tabs"}.get(self.delimiter, f"'{self.delimiter}'")
        what = [kind.get(self.format, self.format), sep and f"separated by {sep}", self.decimal_comma * "decimal comma"]
        what.append("" if self.format == "npy" else "header row" if self.had_header else "no header")
        (a, b), n_dropped, n = self.columns_used, sum(self.dropped.values()), len(self.available_columns)
        listing = f" of {n} numeric columns: {', '.join(self.available_columns)}" if n > 2 else ""
        using = f"Using columns '{a}' and '{b}'{listing}."
        lines = [f"Read {self.rows_read:,} rows ({', '.join(filter(None, what))}).", using]
        if self.dropped:
            parts = ", ".join(f"{n:,} × {reason}" for reason, n in self.dropped.items())
            lines.append(f"Dropped {n_dropped:,} row{_s(n_dropped)}: {parts}.")
        kept = f"Kept a random subset of {self.rows_used:,} of {self.subsampled_from or 0:,} points."
        lines.append(kept if self.subsampled_from is not None else f"{self.rows_used:,} points used.")
        lines += [f"{self.duplicates:,} rows repeat an earlier point (kept)."] if self.duplicates else []
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

    ``source``: a path, bytes or a file object (read from its start, position restored); ``filename`` hints the format.
    ``columns``: two numeric columns by name or 0-based index (default: the first two that are no row index).
    A file it cannot use raises :class:`PointsError` (a ``ValueError``).

    >>> text = "x,y,label\\n" + "".join(f"{i},{i * i % 5},p{i}\\n" for i in range(10)) + "oops,1,p\\n"
    >>> points, report = load_points(text.encode())
    >>> points[:2].tolist(), report.rows_read, report.dropped, report.table.loc[12, "label"]
    ([[0.0, 0.0], [1.0, 1.0]], 11, {'non-numeric cell': 1}, 'p')
    """
    for name, value, low in (("max_points", max_points, MIN_POINTS), ("max_bytes", max_bytes, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    table = _parse(*_read(source, int(max_bytes), filename))
    names, numeric, notes = [str(name) for name in table.shown.columns], table.numeric, table.meta["notes"]
    if len(numeric) < 2:
        listing = ", ".join(f"'{names[j]}'" for j in numeric) or "none"
        raise PointsError(f"The file has fewer than two numeric columns (numeric: {listing}; of {len(names)}).")
    a, b = _pick(columns, names, table)
    used, ca, cb = (names[a], names[b]), table.codes[:, numeric.index(a)], table.codes[:, numeric.index(b)]
    keep, dropped = (codes := np.maximum(ca, cb)) == _OK, {}
    labels = _LABELS + ["missing key or item" if table.meta["format"] == "json" else "wrong number of fields"]
    for code in sorted(set(codes[~keep].tolist()), reverse=True):  # the most severe reason first
        rows = np.flatnonzero(codes == code)
        dropped[labels[code]] = len(rows)
        first = table.where(int(rows[0]), a if ca[rows[0]] == code else b)
        notes.append(f"{labels[code]}: {len(rows):,} row{_s(len(rows))} dropped, first at {first}.")
    points = table.shown.iloc[:, [a, b]].to_numpy(np.float64)[keep]
    row_numbers = table.shown.index.to_numpy(np.int64)[keep]
    if (n_clean := len(points)) < MIN_POINTS:
        why = "; dropped " + ", ".join(f"{n} × {r}" for r, n in dropped.items()) if dropped else ""
        expected = f"Expected at least {MIN_POINTS} rows of two finite numbers in '{used[0]}' and '{used[1]}'."
        raise PointsError(f"Too few points: {n_clean} usable row{_s(n_clean)} of {len(keep)} read{why}.", expected)
    for name, big in zip(used, np.abs(points).max(axis=0), strict=True):
        if big > _MAX_ABS:
            raise PointsError(f"Column '{name}' holds values as large as {big:.3g} (squares overflow).", _SCALE)
    duplicates, subsampled_from = n_clean - len(np.unique(points + 0.0, axis=0)), None  # + 0.0: -0.0 equals 0.0
    if n_clean > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(n_clean, size=int(max_points), replace=False))
        points, row_numbers, subsampled_from = points[chosen], row_numbers[chosen], n_clean
        notes.append(f"Subsampled {int(max_points):,} of {n_clean:,} points at random (seed {seed}, file order kept).")
    _check_shape(points, used, notes)
    if len(numeric) > 2 and columns is None:
        skipped = [f"'{names[j]}'" for j in numeric if j < b and j not in (a, b)]
        why = f" (skipped {', '.join(skipped)}: looks like a row index)" if skipped else ""
        notes.append(f"Using '{names[a]}' and '{names[b]}' of {len(numeric)} numeric columns{why}; see columns=.")
    report = dict(rows_read=len(keep), rows_used=len(points), dropped=dropped, columns_used=used, table=table.shown)
    report |= dict(available_columns=[names[j] for j in numeric], duplicates=int(duplicates), row_numbers=row_numbers)
    return points, LoadReport(subsampled_from=subsampled_from, **report, **table.meta)


def _check_shape(points: np.ndarray, names: tuple[str, str], notes: list[str]) -> None:
    if (distinct := len(np.unique(points + 0.0, axis=0))) < MIN_POINTS:
        raise PointsError(f"Only {distinct} distinct point{_s(distinct)} (of {len(points)} rows).", _CLOUD)
    mean, std = points.mean(axis=0), points.std(axis=0)
    for j, name in enumerate(names):
        if np.ptp(points[:, j]) == 0:
            raise PointsError(f"Column '{name}' is constant (every value is {points[0, j]:g}).", _CLOUD)
        if std[j] <= _REL_STD * abs(mean[j]):
            raise PointsError(f"Column '{name}' is nearly constant ({std[j]:.3g} around {mean[j]:.6g}).", _CLOUD)
        if std[j] <= _REL_STD:
            raise PointsError(f"Column '{name}' varies only on a scale of {std[j]:.3g} (training: constant).", _SCALE)
    if not np.isfinite(z := (points - mean) / std).all():
        raise PointsError("The values cannot be standardised in floating point.", _SCALE)
    s = np.linalg.svd(z / math.sqrt(len(z)), compute_uv=False)
    if (thin := float(s[1] / s[0])) < _MIN_THICKNESS:
        raise PointsError(f"'{names[0]}' and '{names[1]}' are collinear ({thin:.0e}): a density on a line.", _CLOUD)
    if thin < _THIN_NOTE:
        notes.append(f"The cloud is very thin (width {thin:.1e} of its length): the flow may need many steps.")
    if (ratio := float(max(std) / min(std))) > 1e6:
        notes.append(f"The columns' spreads differ by a factor {ratio:.1e}; each is standardised before training.")
    for j, name in enumerate(names):
        if (levels := len(np.unique(points[:, j]))) <= 10:
            notes.append(f"Column '{name}' takes only {levels} distinct values: the flow will see stripes.")


def _pick(columns: Any, names: list[str], table: _Table) -> tuple[int, int]:
    numeric, picked = table.numeric, []
    if columns is None:
        preferred = [j for j in numeric if j not in table.index_like and not _INDEX_NAME.fullmatch(names[j])]
        return tuple((preferred if len(preferred) >= 2 else numeric)[:2])
    available = [names[j] for j in numeric]
    listing = ", ".join(f"{i}: '{n}'" for i, n in enumerate(available))
    expected = f"Expected columns= as two names or two 0-based indices among the numeric columns ({listing})."
    if isinstance(columns, (str, bytes)) or not hasattr(columns, "__len__") or len(columns) != 2:
        raise PointsError(f"columns={columns!r} does not name two columns.", expected)
    for c in columns:
        if isinstance(c, str) and c not in available:
            raise PointsError(f"Column '{c}' is not numeric." if c in names else f"There is no column '{c}'.", expected)
        if isinstance(c, bool) or not isinstance(c, (str, int, np.integer)):
            raise PointsError(f"columns= entry {c!r} is neither a name nor an index.", expected)
        if not isinstance(c, str) and not 0 <= c < len(available):
            raise PointsError(f"Column index {c} is out of range ({len(available)} numeric columns).", expected)
        picked.append(numeric[available.index(c) if isinstance(c, str) else int(c)])
    if picked[0] == picked[1]:
        raise PointsError(f"columns={columns!r} names the same column twice.", expected)
    return picked[0], picked[1]


def _s(n: int) -> str:
    return "s" if n != 1 else ""


def _check_size(size: Any, max_bytes: int) -> None:  # size: None (or any non-int) when unknown
    if isinstance(size, int) and not isinstance(size, bool) and size > max_bytes:
        got, limit = (
            f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n / 1024:.3g} KB" if n >= 1024 else f"{n} bytes"
            for n in (size, max_bytes)
        )
        raise PointsError(f"The file is too large: {got} (limit {limit}).", "Expected a smaller file: subsample it.")


def _check_width(ncols: int) -> None:
    if ncols > _MAX_COLUMNS:
        raise PointsError(f"The table has {ncols:,} columns; at most {_MAX_COLUMNS:,} are read.")


def _read(source: Any, max_bytes: int, filename: str | None) -> tuple[bytes | str, str | None]:
    if isinstance(source, str) and ("\n" in source or len(source) > 4096):
        raise PointsError("This str looks like the file's content, not a path.", "Expected a path, or bytes.")
    if isinstance(source, (bytes, bytearray, memoryview)):
        _check_size(memoryview(source).nbytes, max_bytes)
        return bytes(source), filename and os.path.basename(filename)
    if isinstance(source, (str, os.PathLike)):
        if (path := Path(source)).is_dir():
            raise PointsError(f"{path} is a folder, not a file.", "Expected a path to one file.")
        try:
            fh = path.open("rb")
        except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL character in the path
            reason = getattr(exc, "strerror", None) or exc
            raise PointsError(f"Could not read {path}: {reason}.", "Expected a readable file.") from exc
        with fh:
            return _read(fh, max_bytes, filename or path.name)
    if not callable(getattr(source, "read", None)):
        raise TypeError(f"source must be a path, bytes or a file object (e.g. an upload), not {type(source).__name__}")
    name, start = filename or (source.name if isinstance(getattr(source, "name", None), str) else None), None
    try:  # from the start, restoring the position; a size the object knows is checked before reading
        _check_size(getattr(source, "size", None), max_bytes)  # an UploadedFile knows its size
        if getattr(source, "seekable", lambda: False)() and (start := source.tell()) is not None:
            if isinstance(end := source.seek(0, io.SEEK_END), int) and not isinstance(source, io.TextIOBase):
                _check_size(end, max_bytes)
            source.seek(0)
        data = source.read(max_bytes + 1)
    except PointsError:
        raise
    except (OSError, ValueError) as exc:  # e.g. a text file object that cannot decode its bytes
        raise PointsError(f"Could not read the file: {exc}.", "Expected a readable binary or UTF-8 file.") from exc
    finally:
        if start is not None:
            source.seek(start)
    if not isinstance(data, (bytes, bytearray, memoryview, str)):
        raise TypeError(f"the file object's read() returned {type(data).__name__}, expected bytes or str")
    _check_size(len(data) if not isinstance(data, str) else len(data.encode("utf-8", "surrogatepass")), max_bytes)
    return (data if isinstance(data, str) else bytes(data)), name and os.path.basename(name)


def _parse(data: bytes | str, name: str | None) -> _Table:
    ext, table, json_error = os.path.splitext(name or "")[1].lower(), None, None
    if isinstance(data, bytes) and data.startswith(b"\x93NUMPY"):
        return _parse_npy(data, [f"'{name}' holds a .npy array; read it as one."] if ext != ".npy" and name else [])
    if isinstance(data, bytes) and (kind := next((k for m, k in _BINARY_MAGIC.items() if data.startswith(m)), None)):
        raise PointsError(f"This looks like {kind}, not a table of points.")
    try:
        text, encoding = (_plausible(data, "readable"), "utf-8") if isinstance(data, str) else _decode(data)
    except PointsError as err:  # a file named .npy that is no text either
        raise (err if ext != ".npy" else PointsError(f"'{name}' is not a NumPy .npy file.", _NPY)) from None
    notes = [f"Decoded the text as {encoding} (it is not UTF-8)."] if encoding != "utf-8" else []
    looks_json = text.lstrip(" \t\r\n")[:1] in ("[", "{")
    try:
        table = _parse_json(text) if looks_json or ext == ".json" else None
    except PointsError as err:  # invalid JSON not dressed as JSON (or not named .json) may be a table
        if "not valid JSON" not in err.problem or (looks_json and ext == ".json"):
            raise
        json_error = err
    if table is None:
        try:
            table = _parse_text(text, ext)
        except PointsError as err:
            raise (json_error if json_error and looks_json else err) from None
        if (json_error is None and ext == ".npy") or (json_error and not looks_json):
            notes.append(f"'{name}' holds delimited text, not {'JSON' if json_error else 'a .npy array'}.")
    table.meta["notes"][:0] = notes
    return table


def _decode(data: bytes) -> tuple[str, str]:
    if bom := next((name for mark, name in _BOMS.items() if data.startswith(mark)), None):
        try:
            return _plausible(data.decode(bom), bom.lower()), bom.lower()
        except UnicodeDecodeError:
            raise PointsError(f"The file starts with a {bom} byte-order mark but is not {bom} text.") from None
    if b"\x00" in data:
        even, odd, half = data[0::2].count(0), data[1::2].count(0), max(1, len(data) // 2)
        if max(even, odd) >= 0.4 * half and min(even, odd) <= 0.05 * half:
            raise PointsError("The file looks like UTF-16 text without a byte-order mark: save it as 'CSV UTF-8'.")
        raise PointsError("The file looks binary (it contains zero bytes).")
    with contextlib.suppress(UnicodeDecodeError):
        return _plausible(data.decode("utf-8"), "utf-8"), "utf-8"
    evidence = b"\n".join(line for line in data.splitlines() if not line.isascii())[
        :65536
    ]  # what tells encodings apart
    if not (matches := list(charset_normalizer.from_bytes(evidence))):
        raise PointsError("The file is neither UTF-8 nor plausible text in another encoding (binary?).")
    tied = any(m.chaos <= min(x.chaos for x in matches) and "cp1252" in m.could_be_from_charset for m in matches)
    encoding = "windows-1252" if tied else matches[0].encoding.replace("_", "-")  # on a tie, what Excel writes
    return _plausible(data.decode(encoding, errors="replace"), encoding), encoding


def _plausible(text: str, encoding: str) -> str:
    text = text.removeprefix("\ufeff").rstrip("\x1a")  # a BOM, a DOS end-of-file
    head = text[:65536]  # decides if it is binary that happens to decode; later control characters are just text
    if (bad := len(_CONTROL.findall(head))) > 0.001 * len(head) or "\x00" in text:
        raise PointsError(f"The file has {bad:,} control characters: it looks binary, not {encoding} text.")
    return text


class _Table:  # one frame (numeric columns float64, indexed by row number), a code per numeric cell, where(i, j)
    def __init__(self, cells: pd.DataFrame, numeric: list[int], where: Any, **meta: Any) -> None:
        raw, too_long, self.index_like = meta.pop("raw", cells), meta.pop("too_long", None), meta.pop("index_like", [])
        if meta["format"] == "npy":
            values = cells.iloc[:, numeric].to_numpy(np.float64)
            codes = np.where(np.isfinite(values), _OK, _NONFINITE).astype(np.int8)
        else:
            values, codes = _classify(cells.iloc[:, numeric], meta.get("decimal_comma", False))
        if too_long is not None:
            codes[too_long] = _FIELDS
        self.shown = raw.assign(**dict(zip(raw.columns[numeric], values.T, strict=True)))  # numeric columns: floats
        self.numeric, self.codes, self.where = numeric, codes, where
        self.meta = dict(delimiter=None, had_header=False, decimal_comma=False, notes=[]) | meta


def _classify(cells: Any, decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray]:
    text = pd.Series(np.asarray(cells, dtype=object).ravel(), dtype=object)
    absent, text = text.isna().to_numpy(), text.fillna("").str.strip()
    values = pd.to_numeric(text.str.replace(",", ".", regex=False) if decimal_comma else text, errors="coerce")
    values, lower = values.to_numpy(dtype=np.float64), text.str.lower()
    codes, inf = np.full(len(text), _TEXT, dtype=np.int8), np.isinf(values)
    codes[lower.isin(_MISSING).to_numpy()] = _EMPTY
    codes[lower.isin(["nan", "+nan", "-nan"]).to_numpy() | inf] = _NONFINITE
    codes[inf & ~lower.str.contains("inf", regex=False).to_numpy()] = _OVERFLOW  # e.g. 1e400
    codes[np.isfinite(values)], codes[absent] = _OK, _FIELDS
    return values.reshape(np.shape(cells)), codes.reshape(np.shape(cells))


def _kinds(cells: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: a number (NaN/inf too, or with a decimal comma); one only a decimal comma makes; written "1.5"."""
    text = pd.Series(np.asarray(cells, dtype=object).ravel(), dtype=object).fillna("").astype(str)
    point, comma = (text.str.contains(c, regex=False).to_numpy().reshape(np.shape(cells)) for c in ".,")
    dot = np.isin(_classify(cells)[1], _NUMBER)
    comma = comma & ~point & np.isin(_classify(cells, decimal_comma=True)[1], (_OK, _OVERFLOW))
    return dot | comma, comma, dot & point


def _numeric(codes: np.ndarray) -> list[int]:
    n_numbers, present = np.isin(codes, _NUMBER).sum(axis=0), (~np.isin(codes, (_EMPTY, _FIELDS))).sum(axis=0)
    return [j for j in range(codes.shape[1]) if n_numbers[j] and 2 * n_numbers[j] >= present[j]]


def _split(lines: list[str], delim: str, width: int | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Lines -> (cells, NaN-padded to ``width``; each line's width to its last non-blank field), quotes per line."""
    rows = []
    for line in lines:
        if delim == _WS:
            rows.append([_QUOTED.sub(r"\1", cell) for cell in _BLANKS.split(line.strip(" \t"))])
        elif '"' not in line:
            rows.append([cell.lstrip(" ") for cell in line.split(delim)])
        else:
            try:
                rows.append(next(csv.reader([line], delimiter=delim, skipinitialspace=True)))
            except csv.Error:  # a cell beyond the csv module's size limit
                rows.append(line.split(delim))
    widths = np.array([next((i + 1 for i in range(len(r) - 1, -1, -1) if r[i].strip()), 0) for r in rows])
    width = width or min(max(map(len, rows)), _MAX_COLUMNS + 1)
    return pd.DataFrame([r[:width] + [np.nan] * (width - len(r)) for r in rows], dtype=object), widths


def _sniff(sample: list[str], ext: str) -> tuple[str, int, pd.DataFrame, np.ndarray, np.ndarray]:
    best, scans = None, {}
    for delim in ["\t", ",", ";", "|", _WS] if ext in (".tsv", ".tab") else [",", "\t", ";", "|", _WS]:
        cells, widths = _split(sample, delim)
        scans[delim] = cells, widths, (nums := _kinds(cells)[0].sum(axis=1))
        if data_widths := widths[nums >= 2].tolist():
            k = Counter(data_widths).most_common(1)[0][0]
            score = float((nums[widths == k] / k).sum()) / len(sample)
            if best is None or score > best[0] + 1e-12:
                best = (score, delim, k)
    if best is not None:
        return (best[1], best[2], *scans[best[1]])
    if (singles := int(_kinds(sample)[0].sum())) >= max(1, len(sample) // 2):
        raise PointsError(f"The file has a single column of numbers ({singles:,} rows); a point needs two.")
    if len(sample) == 1:
        cells = max((cells.iloc[0].dropna().tolist() for cells, _, _ in scans.values()), key=len)
        if len(cells) >= 2 and not _kinds(cells)[0].any():
            shown = ", ".join(c.strip() for c in cells)
            raise PointsError(f"The file has a header ({shown[:80]}{'...' * (len(shown) > 80)}) but no data rows.")
    if not any(ch.isdigit() for line in sample for ch in line):
        raise PointsError("The file contains no numbers: it looks like prose, not a table of points.")
    raise PointsError("No row has two numbers side by side (with ',', ';', tab, '|' or spaces between).")


def _parse_text(text: str, ext: str) -> _Table:
    every = pd.Series(re.split(r"\r\n|\r|\n", text))
    first = every.str.lstrip().str[:1]  # each line's first visible character: none (blank), or # or % (a comment)
    comment = first.isin(["#", "%"])
    kept, comments = every[(first != "") & ~comment], int(comment.sum())
    lines, line_no = kept.tolist(), (kept.index + 1).tolist()
    if not lines:
        raise PointsError("The file has only comment lines." if comments else "The file is empty (or blank).")
    delim, k, sampled, widths, nums = _sniff([line[:_WIDE] for line in lines[:_SAMPLE]], ext)
    first_data = int(np.argmax(nums >= 2))  # the header: a row before it of (about) k fields and no numbers...
    named = [i for i in range(first_data) if widths[i] >= max(2, k - 1) and nums[i] == 0]
    header = next((i for i in named if widths[i] in (k, k - 1)), named[0] if named else None)  # ...k (or k-1) wide
    skipped = header if header is not None else next((i for i in range(first_data) if widths[i] >= 2), first_data)
    start, ncols = skipped + (header is not None), k if header is None else max(k, int(widths[header]))
    if (n := len(lines) - start) <= 3 and k >= MIN_POINTS:
        over = "over " if any(len(line) > _WIDE for line in lines[start:]) else ""
        problem = f"The file has {n} row{_s(n)} of {over}{k:,} values: it looks transposed (one row per coordinate)."
        raise PointsError(problem, "Expected one point per row, x and y as columns (a (n, 2) array, not (2, n)).")
    _check_width(ncols)
    row_names = header is not None and widths[header] == k - 1 and k >= 3  # R-style: the header lacks that name
    raw = [] if header is None else ([""] if row_names else []) + sampled.iloc[header, : widths[header]].tolist()
    names: list[str] = []  # the header's names, made unique; "column 1"... where there is none
    for j, name in enumerate(raw + [""] * (ncols - len(raw))):
        name = name.strip().strip('"').strip() or f"column {j + 1}"
        names.append(f"{name} (column {j + 1})" if name in names else name)
    notes = [f"Skipped {comments:,} comment line{_s(comments)} (starting with # or %)."] if comments else []
    notes += [f"Skipped {skipped:,} line{_s(skipped)} of text before the table."] if skipped else []
    sampled = sampled.iloc[start:].reindex(columns=range(ncols))
    _, comma, dotted = _kinds(sampled)  # a decimal comma: numbers written "1,5" and none written "1.5"
    decimal_comma = bool(comma.any()) and not dotted.any()
    if comma.any() and dotted.any():
        notes.append("Some numbers use a decimal comma and others a decimal point; cells with a comma were not read.")
    numeric = _numeric(_classify(sampled, decimal_comma)[1])
    nameless = header is not None and (row_names or (not raw[0].strip() and any(c.strip() for c in raw)))
    cells, widths = _split(data := lines[start:], delim, ncols)
    cells = cells.set_axis(names, axis=1).set_axis(pd.Index(line_no[start:], name="row"))

    def where(i: int, j: int) -> str:
        if widths[i] <= ncols and isinstance(cell := cells.iat[i, j], str):
            return f"line {line_no[start + i]}, column '{names[j]}': {cell[:40]!r}"
        return f"line {line_no[start + i]} has {widths[i]} fields, expected {ncols}: {data[i][:60]!r}"

    fmt = {",": "csv", "\t": "tsv"}.get(delim, "delimited")
    meta = dict(delimiter=delim, had_header=header is not None, decimal_comma=decimal_comma, notes=notes)
    return _Table(cells, numeric, where, format=fmt, too_long=widths > ncols, index_like=[0] * nameless, **meta)


def _parse_json(text: str) -> _Table:
    try:
        obj = json.loads(text, parse_constant=str)  # NaN, Infinity stay text (read as numbers later): NaN is "absent"
    except RecursionError as exc:
        raise PointsError("The JSON is nested too deeply to read.", _JSON) from exc
    except ValueError as exc:  # JSONDecodeError, or e.g. an integer literal with thousands of digits
        raise PointsError(f"The file is not valid JSON: {exc}.", _JSON) from exc
    notes: list[str] = []
    if isinstance(obj, dict) and len(obj) == 1:
        [(key, inner)] = obj.items()
        if isinstance(inner, list) and inner and all(isinstance(r, (list, dict)) for r in inner):
            obj, notes = inner, [f"Read the points from the JSON key '{key}'."]
    too_long, row, base = None, "item", 1  # where a row is, for a note: "item 1"... or "index 0"...
    if isinstance(obj, dict):
        if not (cols := {k: v for k, v in obj.items() if isinstance(v, list)}):
            raise PointsError("The JSON object holds no lists of values.", _JSON)
        if len(set(map(len, cols.values()))) > 1:
            shown = ", ".join(f"{k}: {len(v)}" for k, v in cols.items())
            raise PointsError(f"The JSON columns have different lengths ({shown}): points cannot be paired.", _JSON)
        if ignored := [k for k in obj if k not in cols]:
            notes.append("Ignored JSON keys that are not lists: " + ", ".join(ignored[:10]) + ".")
        _check_width(len(cols))
        frame, row, base = pd.DataFrame(cols, dtype=object), "index", 0
    elif not isinstance(obj, list):
        raise PointsError(f"The JSON holds a single {type(obj).__name__}, not a list of points.", _JSON)
    elif all(not isinstance(r, (list, dict)) for r in obj):  # [] too
        raise PointsError(f"The JSON is a flat list of {len(obj):,} values, not a list of points.", _JSON)
    elif all(isinstance(r, list) for r in obj):
        if not (wide := [len(r) for r in obj if len(r) >= 2]):
            raise PointsError("The JSON rows have fewer than two values each.", _JSON)
        _check_width(k := Counter(wide).most_common(1)[0][0])  # the usual width; shorter rows lack items
        padded = [r[:k] + [np.nan] * (k - len(r)) for r in obj]
        frame = pd.DataFrame(padded, columns=[f"column {j + 1}" for j in range(k)], dtype=object)
        too_long = np.array([len(r) > k for r in obj])
    elif all(isinstance(r, dict) for r in obj):
        _check_width(len(keys := list(dict.fromkeys(key for r in obj for key in r))))
        frame = pd.DataFrame(obj, columns=keys, dtype=object)
    else:
        raise PointsError("The JSON list mixes points, objects and single values.", _JSON)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    shown = lambda v: "missing" if v != v else json.dumps(v)[:40]  # noqa: E731 (NaN: a missing key or item)
    where = lambda i, j: f"{row} {i + base}, '{frame.columns[j]}': {shown(frame.iat[i, j])}"  # noqa: E731
    cells = frame.map(lambda v: v if isinstance(v, str) or v != v else json.dumps(v)).astype(object)  # true: text
    numeric, meta = _numeric(_classify(cells.iloc[:_SAMPLE])[1]), dict(had_header=too_long is None, notes=notes)
    return _Table(cells, numeric, where, format="json", too_long=too_long, raw=frame, **meta)


def _parse_npy(data: bytes, notes: list[str]) -> _Table:  # the header is checked before any data is read
    fp = io.BytesIO(data)
    try:  # read_magic first: its version picks the header reader
        v1 = np.lib.format.read_magic(fp) == (1, 0)
        shape, _, dtype = (np.lib.format.read_array_header_1_0 if v1 else np.lib.format.read_array_header_2_0)(fp)
    except Exception as exc:  # malformed header: numpy raises ValueError, EOFError, SyntaxError...
        raise PointsError(f"The .npy header is unreadable ({exc}).", _NPY) from exc
    if dtype.hasobject:
        raise PointsError("The .npy file holds Python objects (dtype=object), never loaded (unsafe).", _NPY)
    if (need := math.prod(shape) * dtype.itemsize) > (have := len(data) - fp.tell()):
        raise PointsError(f"The .npy file is truncated: its header promises {need:,} bytes, it has {have:,}.", _NPY)
    if dtype.names and len(shape) != 1:
        raise PointsError(f"The .npy record array has shape {shape}; expected 1-D, a record per point.", _NPY)
    if not dtype.names and dtype.kind not in "iuf":
        kinds = {"b": "booleans", "c": "complex numbers", "U": "text", "S": "bytes", "M": "dates", "m": "durations"}
        raise PointsError(f"The .npy array holds {kinds.get(dtype.kind, str(dtype))} (dtype {dtype}).", _NPY)
    if not dtype.names and (len(shape) != 2 or shape[1] < 2):
        raise PointsError(f"The .npy array has shape {shape} ({len(shape)}-D); a table of points is (n, 2+).", _NPY)
    _check_width(k := len(dtype.names) if dtype.names else shape[1])
    if not dtype.names and shape[0] < MIN_POINTS <= k and shape[0] <= 3:
        raise PointsError(f"The .npy array has shape {shape}: it looks transposed.", _NPY + " Save arr.T instead.")
    try:
        arr = np.load(fp := io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # a corrupt payload
        raise PointsError(f"The .npy file could not be read ({exc}).", _NPY) from exc
    if names := dtype.names:  # a record array: one record per point, a column per field
        try:
            frame = pd.DataFrame({n: arr[n] if arr[n].ndim == 1 else list(arr[n]) for n in names})
        except (SystemError, ValueError, UnicodeError) as exc:  # e.g. a text field holding no valid characters
            raise PointsError(f"The .npy record array holds an unreadable field ({exc}).", _NPY) from exc
        numeric = [j for j, n in enumerate(names) if dtype[n].kind in "iuf" and dtype[n].shape == ()]
        where = lambda i, j: f"record {i}, field '{names[j]}': {float(arr[i][names[j]])!r}"  # noqa: E731
    else:
        frame = pd.DataFrame(arr.astype(np.float64), columns=[f"column {j + 1}" for j in range(k)])
        numeric, where = list(range(k)), lambda i, j: f"row {i}, column {j}: {float(arr[i, j])!r}"
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    return _Table(frame, numeric, where, format="npy", had_header=bool(names), notes=notes)
