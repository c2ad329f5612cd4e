"""Load a user's 2-D point cloud from an uploaded file: delimited text, ``.npy`` or JSON.

Real files are messy. :func:`load_points` sniffs the format, the delimiter, a header, the text
encoding and a decimal comma; drops rows it cannot use and says how many and why (a
:class:`LoadReport`); and refuses a file it cannot turn into a usable cloud with a
:class:`PointsError` whose message says what was wrong and what is accepted. It never evaluates
anything from the file, never unpickles (``np.load(..., allow_pickle=False)`` always) and never
writes files.

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

import numpy as np

__all__ = ["MAX_BYTES", "MAX_POINTS", "MIN_POINTS", "LoadReport", "PointsError", "load_points"]

MAX_POINTS = 20_000
"""Default cap on the number of points returned; more clean points are subsampled."""
MAX_BYTES = 20 * 1024 * 1024
"""Default cap on the size of the file (bytes); a bigger one is refused before parsing."""
MIN_POINTS = 10
"""Fewest (distinct) points a cloud must keep after cleaning."""

_MAX_ABS = 1e150  # |value| above this: squares overflow float64 in a variance
_REL_STD = 1e-9  # same rule as datasets.Standardizer.fit: std <= 1e-9 * max(1, |mean|) is constant
_MIN_THICKNESS = 1e-6  # minor/major principal-axis ratio of the standardised cloud below this: a line
_THIN_NOTE = 1e-3  # ... below this: accepted with a note
_MAX_COLUMNS = 1000  # a wider "table" is refused (names and per-column work would balloon)
_SAMPLE = 200  # lines used to sniff delimiter, header, decimal comma and numeric columns
_WS = "whitespace"  # the `delimiter` reported for runs of spaces/tabs

# Per-cell codes; a row's code is the largest of its two chosen cells (the most severe reason).
_OK, _NONFINITE, _OVERFLOW, _EMPTY, _TEXT, _FIELDS = range(6)
_LABELS = {
    _NONFINITE: "NaN or infinite value",
    _OVERFLOW: "number too large for float64",
    _EMPTY: "empty cell",
    _TEXT: "non-numeric cell",
    _FIELDS: "wrong number of fields",
}
_JSON_LABELS = {**_LABELS, _FIELDS: "missing key or item"}

# ASCII float syntax, the same set np.loadtxt accepts (float() also takes "1_0" and non-ASCII digits).
_NUM = re.compile(r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)\s*", re.ASCII | re.IGNORECASE)
_NUM_COMMA = re.compile(r"\s*[+-]?(?:\d+,\d*|,\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_NUM_LINES = re.compile(  # a chunk of cells joined by line breaks, each a number
    r"(?:[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)[ \t]*)"
    r"(?:\n[ \t]*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)[ \t]*)*",
    re.ASCII | re.IGNORECASE,
)
_CHUNK = 4096
_INDEX_NAME = re.compile(r"\s*(?:id|index|idx|row|row ?id|#|no\.?|unnamed: ?0)\s*", re.IGNORECASE)
_MISSING = frozenset({"", "na", "n/a", "#n/a", "null", "none", "nil", "-", "--", "?", ".", "missing"})
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")

_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.zip, .npz, or an Excel/OpenDocument workbook)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.xls/.doc)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"MATLAB 5.0 MAT-file", "a MATLAB .mat file"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "a Windows executable"),
    (b"\x80\x02", "a Python pickle (never loaded: unpickling can run code)"),
    (b"\x80\x03", "a Python pickle (never loaded: unpickling can run code)"),
    (b"\x80\x04", "a Python pickle (never loaded: unpickling can run code)"),
    (b"\x80\x05", "a Python pickle (never loaded: unpickling can run code)"),
    (b"RIFF", "a RIFF media file (audio/video/image)"),
    (b"\x00\x00\x01\x00", "an icon file"),
)


def _accepted(max_bytes: int = MAX_BYTES) -> str:
    return (
        "Accepted: delimited text (CSV, TSV, or ';', '|' or space separated; header optional) with at least two "
        "numeric columns; a .npy file holding a 2-D numeric array (n, >= 2); or JSON as [[x, y], ...], "
        '[{"x": .., "y": ..}, ...] or {"x": [...], "y": [...]}; '
        f"at least {MIN_POINTS} points, at most {_size_text(max_bytes)}."
    )


def _size_text(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


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

    >>> _, report = load_points(b"a;b\\n" + b"".join(b"%d,5;%d\\n" % (i, i * i % 7) for i in range(12)))
    >>> report.delimiter, report.decimal_comma, report.format
    (';', True, 'delimited')
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

    def summary(self) -> str:
        """Human-readable multi-line text for the page.

        >>> _, report = load_points(b"".join(b"%d %d\\n" % (i, i * i % 7) for i in range(12)))
        >>> print(report.summary().splitlines()[0])
        Read 12 rows (delimited text, separated by spaces/tabs, no header).
        """
        kind = {"csv": "CSV", "tsv": "TSV", "delimited": "delimited text", "npy": ".npy array", "json": "JSON"}
        what = kind.get(self.format, self.format)
        if self.delimiter is not None:
            sep = {"\t": "tabs", _WS: "spaces/tabs"}.get(self.delimiter, f"'{self.delimiter}'")
            what += f", separated by {sep}"
        if self.decimal_comma:
            what += ", decimal comma"
        if self.format != "npy":
            what += ", header row" if self.had_header else ", no header"
        lines = [f"Read {self.rows_read:,} rows ({what})."]
        a, b = self.columns_used
        if len(self.available_columns) > 2:
            lines.append(
                f"Using columns '{a}' and '{b}' of {len(self.available_columns)} numeric columns: "
                + ", ".join(self.available_columns)
                + "."
            )
        else:
            lines.append(f"Using columns '{a}' and '{b}'.")
        if self.dropped:
            total = sum(self.dropped.values())
            parts = ", ".join(f"{n:,} × {reason}" for reason, n in self.dropped.items())
            lines.append(f"Dropped {total:,} row{'s' if total != 1 else ''}: {parts}.")
        if self.subsampled_from is not None:
            lines.append(f"Kept a random subset of {self.rows_used:,} of {self.subsampled_from:,} points.")
        else:
            lines.append(f"{self.rows_used:,} points used.")
        if self.duplicates:
            lines.append(f"{self.duplicates:,} rows repeat an earlier point (kept).")
        lines.extend(f"Note: {note}" for note in self.notes)
        return "\n".join(lines)


# --------------------------------------------------------------------------- the table every format becomes


@dataclass
class _Table:
    """Columns in file order; ``numeric`` indexes those worth offering; ``column(j)`` -> (values, codes)."""

    format: str
    names: list[str]
    numeric: list[int]
    n_rows: int
    column: Callable[[int], tuple[np.ndarray, np.ndarray]]
    describe: Callable[[int, int], str]
    labels: dict[int, str]
    delimiter: str | None = None
    had_header: bool = False
    decimal_comma: bool = False
    notes: list[str] = field(default_factory=list)
    index_like: list[int] = field(default_factory=list)  # numeric columns the default pick skips


def _classify(cell: Any, decimal_comma: bool = False) -> tuple[float, int]:
    """One cell (text, or a JSON value) -> (float value, code)."""
    if isinstance(cell, str):
        s = cell.replace(",", ".") if decimal_comma else cell
        if _NUM.fullmatch(s):
            v = float(s)
            if math.isfinite(v):
                return v, _OK
            if math.isinf(v) and "inf" not in s.lower():
                return v, _OVERFLOW
            return v, _NONFINITE
        return math.nan, (_EMPTY if cell.strip().lower() in _MISSING else _TEXT)
    if cell is None:
        return math.nan, _EMPTY
    if isinstance(cell, bool):
        return math.nan, _TEXT
    if isinstance(cell, int):
        try:
            return float(cell), _OK
        except OverflowError:
            return math.inf, _OVERFLOW
    if isinstance(cell, float):
        return cell, (_OK if math.isfinite(cell) else _NONFINITE)
    return math.nan, _TEXT  # lists, dicts, other objects


def _convert(cells: list[Any], decimal_comma: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cells -> (values, codes). Text cells go in chunks: one regex over a chunk, then numpy converts it."""
    n = len(cells)
    values = np.full(n, np.nan)
    codes = np.zeros(n, dtype=np.int8)
    for lo in range(0, n, _CHUNK):
        chunk = cells[lo : lo + _CHUNK]
        done = False
        if all(type(c) is str for c in chunk):
            joined = "\n".join(chunk)
            if decimal_comma:
                joined = joined.replace(",", ".")
            if _NUM_LINES.fullmatch(joined):
                parts = joined.split("\n")
                if len(parts) == len(chunk):  # no cell held a line break
                    values[lo : lo + len(chunk)] = np.array(parts, dtype=np.float64)
                    done = True
        if not done:
            for i, c in enumerate(chunk, lo):
                values[i], codes[i] = (math.nan, _FIELDS) if c is _ABSENT else _classify(c, decimal_comma)
    for i in np.flatnonzero((codes == _OK) & ~np.isfinite(values)):
        values[i], codes[i] = _classify(cells[i], decimal_comma)  # NaN / inf / overflow from a clean chunk
    return values, codes


_ABSENT = object()  # a cell a short row (or an object without the key) does not have


def _numeric_columns(sample_columns: list[list[Any]], decimal_comma: bool) -> list[int]:
    """Columns where at least half of the non-missing sampled cells are numbers (NaN/inf included)."""
    out = []
    for j, cells in enumerate(sample_columns):
        codes = [_FIELDS if c is _ABSENT else _classify(c, decimal_comma)[1] for c in cells]
        numbers_ = sum(code in (_OK, _NONFINITE, _OVERFLOW) for code in codes)
        present = sum(code not in (_EMPTY, _FIELDS) for code in codes)
        if numbers_ and 2 * numbers_ >= present:
            out.append(j)
    return out


def _unique_names(raw: list[str]) -> list[str]:
    names: list[str] = []
    for j, name in enumerate(raw):
        name = name.strip().strip('"').strip()
        if not name:
            name = f"column {j + 1}"
        if name in names:
            name = f"{name} (column {j + 1})"
        names.append(name)
    return names


# --------------------------------------------------------------------------- reading the source


def _read_source(source: Any, max_bytes: int, filename: str | None) -> tuple[bytes | str, str | None]:
    """The file's content (bytes, or str for a text file object) and its name, refusing oversize first."""
    if isinstance(source, str) and ("\n" in source or len(source) > 4096):
        raise PointsError(
            "A str source is read as a path, but this one looks like the file's content.",
            "Expected a path; pass content as bytes (text.encode()) or io.StringIO(text).",
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = filename or path.name
        try:
            if path.is_dir():
                raise PointsError(f"{path} is a folder, not a file.", "Expected a path to one file.")
            size = path.stat().st_size
            if size > max_bytes:
                raise _too_big(size, max_bytes)
            with path.open("rb") as fh:
                data: bytes | str = fh.read(max_bytes + 1)
        except (OSError, ValueError) as exc:  # ValueError: e.g. a NUL character in the path
            if isinstance(exc, PointsError):
                raise
            raise PointsError(
                f"Could not read {path}: {getattr(exc, 'strerror', None) or exc}.", "Expected a readable file."
            ) from exc
    elif isinstance(source, (bytes, bytearray, memoryview)):
        name = filename
        if memoryview(source).nbytes > max_bytes:
            raise _too_big(memoryview(source).nbytes, max_bytes)
        data = bytes(source)
    elif callable(getattr(source, "read", None)):
        name = filename or (source.name if isinstance(getattr(source, "name", None), str) else None)
        data = _read_file_object(source, max_bytes)
    else:
        raise TypeError(
            f"source must be a path, bytes or a file object, got {type(source).__name__}; "
            "pass st.file_uploader's result, open(path, 'rb') or the file's bytes"
        )
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise _too_big(size, max_bytes)
    return data, (os.path.basename(name) if name else None)


def _read_file_object(fh: Any, max_bytes: int) -> bytes | str:
    """Read a file object from its start (restoring its position), refusing oversize before reading."""
    try:
        size = getattr(fh, "size", None)  # e.g. Streamlit's UploadedFile
        if isinstance(size, int) and not isinstance(size, bool) and size > max_bytes:
            raise _too_big(size, max_bytes)
        seekable = bool(getattr(fh, "seekable", lambda: False)())
        start = None
        if seekable:
            start = fh.tell()
            end = fh.seek(0, io.SEEK_END)
            if isinstance(end, int) and end > max_bytes and not isinstance(fh, io.TextIOBase):
                raise _too_big(end, max_bytes)
            fh.seek(0)
        try:
            data = fh.read(max_bytes + 1)
        finally:
            if start is not None:
                fh.seek(start)
    except UnicodeDecodeError as exc:
        raise PointsError(
            f"The text file object could not be decoded ({exc.reason}).",
            "Expected a binary file object (open(path, 'rb')) or UTF-8 text.",
        ) from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, PointsError):
            raise
        raise PointsError(f"Could not read the file: {exc}.", "Expected an open, readable file.") from exc
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data
    raise TypeError(f"the file object's read() returned {type(data).__name__}, expected bytes or str")


def _too_big(size: int, max_bytes: int) -> PointsError:
    return PointsError(
        f"The file is too large: {_size_text(size)} (limit {_size_text(max_bytes)}).",
        f"Expected a file of at most {_size_text(max_bytes)}; a few thousand points are plenty — "
        "subsample the data before uploading.",
    )


def _binary_kind(data: bytes) -> str | None:
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    return None


def _decode(data: bytes, max_bytes: int) -> tuple[str, str]:
    """Bytes -> (text, encoding name): BOM first, then UTF-8, then Windows-1252/Latin-1 if plausible."""
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    )
    for bom, encoding in boms:
        if data.startswith(bom):
            try:
                return _plausible(data.decode(encoding), encoding, max_bytes), encoding
            except UnicodeDecodeError as exc:
                raise PointsError(
                    f"The file starts with a {encoding.upper()} byte-order mark but is not valid {encoding.upper()} "
                    f"text ({exc.reason} at byte {exc.start}).",
                    "Expected UTF-8 text (or UTF-16 with a byte-order mark). " + _accepted(max_bytes),
                ) from exc
    if b"\x00" in data:
        even, odd = data[0::2], data[1::2]
        half = max(1, len(data) // 2)
        if max(even.count(0), odd.count(0)) >= 0.4 * half and min(even.count(0), odd.count(0)) <= 0.05 * half:
            raise PointsError(
                "The file looks like UTF-16 text without a byte-order mark (every other byte is zero), "
                "so its encoding cannot be told for sure.",
                "Expected UTF-8 text, or UTF-16 with a byte-order mark: re-save it as 'CSV UTF-8'.",
            )
        raise PointsError(
            "The file looks binary (it contains zero bytes), not like text or a .npy array.",
            _accepted(max_bytes),
        )
    try:
        return _plausible(data.decode("utf-8"), "utf-8", max_bytes), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text, encoding = data.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        text, encoding = data.decode("latin-1"), "latin-1"
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii > 0.3 * len(text):
        raise PointsError(
            "The file is not UTF-8 text and does not read as plausible Latin-1 text either (binary data?).",
            _accepted(max_bytes),
        )
    return _plausible(text, encoding, max_bytes), encoding


def _plausible(text: str, encoding: str, max_bytes: int) -> str:
    """Refuse text full of control characters (binary data that happens to decode)."""
    text = text.rstrip("\x1a")  # DOS end-of-file marker
    head = text[:65536]  # a sample decides; stray control characters later become non-numeric cells
    bad = len(_CONTROL.findall(head))
    if "\x00" in text or bad > 0.001 * len(head):
        raise PointsError(
            f"The file contains {bad:,} control characters: it looks binary, not like {encoding} text.",
            _accepted(max_bytes),
        )
    return text


# --------------------------------------------------------------------------- delimited text


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _unquote(cell: str) -> str:
    return cell[1:-1] if len(cell) >= 2 and cell[0] == cell[-1] == '"' else cell


def _split(lines: list[str], delim: str) -> list[list[str]]:
    """Lines -> cells, one row per line (a stray quote cannot swallow the lines after it)."""
    if delim == _WS:
        return [[_unquote(c) for c in line.split()] if '"' in line else line.split() for line in lines]
    try:
        rows = list(csv.reader(lines, delimiter=delim, quotechar='"', skipinitialspace=True))
        if len(rows) == len(lines):
            return rows
    except csv.Error:
        pass
    out = []
    for line in lines:
        try:
            out.append(next(csv.reader([line], delimiter=delim, quotechar='"', skipinitialspace=True), []))
        except csv.Error:  # e.g. a field over csv's size limit: keep the line as one (non-numeric) cell
            out.append([line])
    return out


def _width(row: list[str]) -> int:
    """Number of fields, ignoring trailing empty ones (a trailing delimiter)."""
    n = len(row)
    while n and not row[n - 1].strip():
        n -= 1
    return n


def _is_number(cell: str) -> bool:
    return bool(_NUM.fullmatch(cell) or _NUM_COMMA.fullmatch(cell))


def _sniff(sample: list[str], ext: str) -> tuple[str, int] | None:
    """Best delimiter and the usual row width: rows with the usual width whose cells are numbers win."""
    order = [",", "\t", ";", "|", _WS]
    if ext in (".tsv", ".tab"):
        order.remove("\t")
        order.insert(0, "\t")
    best: tuple[float, str, int] | None = None
    for delim in order:
        rows = _split(sample, delim)
        widths = [_width(r) for r in rows]
        nums = [sum(map(_is_number, r[: min(w, _MAX_COLUMNS + 1)])) for r, w in zip(rows, widths, strict=True)]
        data_widths = [w for w, n in zip(widths, nums, strict=True) if n >= 2]
        if not data_widths:
            continue
        k = Counter(data_widths).most_common(1)[0][0]
        score = sum(n / k for w, n in zip(widths, nums, strict=True) if w == k) / len(rows)
        if best is None or score > best[0] + 1e-12:
            best = (score, delim, k)
    return None if best is None else (best[1], best[2])


def _no_table(lines: list[str], max_bytes: int) -> PointsError:
    """The message when no delimiter gives rows of two numbers."""
    singles = sum(1 for line in lines if _is_number(line.strip()))
    if singles >= max(1, len(lines) // 2):
        return PointsError(
            f"The file has a single column of numbers ({singles:,} rows); a point cloud needs two.",
            "Expected at least two numeric columns (x and y) per row. " + _accepted(max_bytes),
        )
    if len(lines) == 1:
        cells = max((_split(lines, d)[0] for d in (",", "\t", ";", "|", _WS)), key=len)
        if len(cells) >= 2 and not any(map(_is_number, cells)):
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
            "The file contains no numbers: it looks like prose or labels, not a table of points.",
            _accepted(max_bytes),
        )
    return PointsError(
        "No row of the file has two numbers side by side (checked ',', ';', tab, '|' and spaces as separators).",
        _accepted(max_bytes),
    )


def _parse_text(text: str, ext: str, max_bytes: int) -> _Table:
    text = text.lstrip("\ufeff")
    lines, line_no = [], []
    comments = 0
    for i, line in enumerate(_LINE_BREAK.split(text), 1):
        s = line.strip()
        if not s:
            continue
        if s[0] in "#%":
            comments += 1
            continue
        lines.append(line)
        line_no.append(i)
    if not lines:
        problem = "The file has only comment lines." if comments else "The file is empty (only blank lines)."
        raise PointsError(problem, _accepted(max_bytes))
    sample = [line[:262_144] for line in lines[:_SAMPLE]]  # a row wider than 256 KB is refused anyway
    sniffed = _sniff(sample, ext)
    if sniffed is None:
        raise _no_table(sample, max_bytes)
    delim, k = sniffed

    # Header and preamble: the first row before the first data row with (about) k fields and no numbers.
    rows = _split(sample, delim)
    widths = [_width(r) for r in rows]
    nums = [sum(map(_is_number, r[:w])) for r, w in zip(rows, widths, strict=True)]
    first_data = next(i for i, n in enumerate(nums) if n >= 2)
    # Prefer a row exactly as wide as the data (or one less: R-style row names) over, e.g., a title line.
    named = [i for i in range(first_data) if widths[i] >= max(2, k - 1) and nums[i] == 0]
    header = next((i for i in named if widths[i] in (k, k - 1)), named[0] if named else None)
    if header is not None:
        start, skipped = header + 1, header
    else:
        start = next((i for i in range(first_data) if widths[i] >= 2), first_data)
        skipped = start
    ncols = max(k, widths[header]) if header is not None else k
    if len(lines) - start <= 3 and k >= MIN_POINTS:
        raise PointsError(
            f"The file has {len(lines) - start} row{'s' if len(lines) - start != 1 else ''} of "
            f"{'over ' if any(len(line) > 262_144 for line in lines[start:]) else ''}{k:,} values: "
            "it looks transposed (one row per coordinate).",
            "Expected one point per row, x and y as columns (e.g. np.savetxt(path, points) with points of shape "
            "(n, 2), not (2, n)).",
        )
    _check_width(ncols)
    row_names = header is not None and widths[header] == k - 1 and k >= 3
    if header is not None:
        raw = list(rows[header][: widths[header]])
        if row_names:  # R-style row names: the header lacks the first column's name
            raw.insert(0, "")
        names = _unique_names(raw + [""] * (ncols - len(raw)))
    else:
        names = _unique_names([""] * ncols)

    notes = []
    if comments:
        notes.append(f"Skipped {comments:,} comment line{'s' if comments != 1 else ''} (starting with # or %).")
    if skipped:
        notes.append(f"Skipped {skipped:,} line{'s' if skipped != 1 else ''} of text before the table.")

    # Decimal comma: numbers written "1,5" and none written "1.5" (commas can only be inside a cell when the
    # delimiter is not ',' or the cell is quoted).
    sample_rows = rows[start:]
    cells = [c for r in sample_rows for c in r[:ncols]]
    n_comma = sum(1 for c in cells if _NUM_COMMA.fullmatch(c))
    n_dot = sum(1 for c in cells if "." in c and _NUM.fullmatch(c))
    decimal_comma = n_comma > 0 and n_dot == 0
    if n_comma and n_dot:
        notes.append("Some numbers use a decimal comma and others a decimal point; cells with a comma were not read.")

    sample_columns = [[r[j] if j < len(r) else _ABSENT for r in sample_rows] for j in range(ncols)]
    numeric = _numeric_columns(sample_columns, decimal_comma)
    # A nameless first column under a header (R row names, pandas' index) numbers the rows; so may "id".
    index_like = [j for j in numeric if _INDEX_NAME.fullmatch(names[j])]
    if header is not None and 0 in numeric and (row_names or (not raw[0].strip() and any(c.strip() for c in raw))):
        index_like.insert(0, 0)

    data_lines, data_no = lines[start:], line_no[start:]
    fast = _fast_parse(data_lines, delim, ncols, decimal_comma)
    parsed: list[list[str]] | None = None if fast is not None else _split(data_lines, delim)
    too_long = (
        np.zeros(len(data_lines), dtype=bool)
        if parsed is None
        else np.fromiter((_width(r) > ncols for r in parsed), dtype=bool, count=len(parsed))
    )

    def column(j: int) -> tuple[np.ndarray, np.ndarray]:
        if fast is not None:
            values = fast[:, j]
            return values, np.where(np.isnan(values), _NONFINITE, _OK).astype(np.int8)
        assert parsed is not None
        values, codes = _convert([r[j] if j < len(r) else _ABSENT for r in parsed], decimal_comma)
        codes[too_long] = _FIELDS
        return values, codes

    def describe(i: int, j: int) -> str:
        row = _split([data_lines[i]], delim)[0]
        if _width(row) > ncols or j >= len(row):
            return f"line {data_no[i]} has {_width(row)} fields, expected {ncols}: {data_lines[i][:60]!r}"
        return f"line {data_no[i]}, column '{names[j]}': {row[j][:40]!r}"

    fmt = {",": "csv", "\t": "tsv"}.get(delim, "delimited")
    table = _Table(
        fmt, names, numeric, len(data_lines), column, describe, _LABELS, delim, header is not None, decimal_comma, notes
    )
    table.index_like = index_like
    return table


def _fast_parse(lines: list[str], delim: str, ncols: int, decimal_comma: bool) -> np.ndarray | None:
    """np.loadtxt (C) for the clean, rectangular case; None sends the caller to the cell-by-cell path."""
    if not lines or (decimal_comma and delim == ","):
        return None
    if decimal_comma:
        lines = [line.replace(",", ".") for line in lines]
    try:  # (no warnings.catch_warnings: it is not thread-safe, and app sessions are threads)
        arr = np.loadtxt(
            lines,
            delimiter=None if delim == _WS else delim,
            quotechar=None if delim == _WS else '"',
            comments=None,
            dtype=np.float64,
            ndmin=2,
        )
    except Exception:  # any refusal by loadtxt: the careful path finds and reports the bad cells
        return None
    if arr.shape != (len(lines), ncols) or np.isinf(arr).any():  # inf: tell "inf" from overflow cell by cell
        return None
    return arr


# --------------------------------------------------------------------------- JSON


def _parse_json(text: str, max_bytes: int) -> _Table:
    expected = (
        'Expected JSON as [[x, y], ...], [{"x": .., "y": ..}, ...] or {"x": [...], "y": [...]} '
        f"with at least {MIN_POINTS} points."
    )
    try:
        obj = json.loads(text)
    except RecursionError as exc:
        raise PointsError("The JSON is nested too deeply to read.", expected) from exc
    except json.JSONDecodeError as exc:
        raise PointsError(
            f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", expected
        ) from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise PointsError(f"The file is not valid JSON: {exc}.", expected) from exc
    notes: list[str] = []
    if isinstance(obj, dict) and len(obj) == 1:
        (key, inner), *_ = obj.items()
        if isinstance(inner, list) and inner and all(isinstance(r, (list, dict)) for r in inner):
            obj = inner
            notes.append(f"Read the points from the JSON key '{key}'.")

    if isinstance(obj, dict):
        cols = {str(k): v for k, v in obj.items() if isinstance(v, list)}
        ignored = [str(k) for k in obj if str(k) not in cols]
        if not cols:
            raise PointsError("The JSON object holds no lists of values.", expected)
        lengths = {k: len(v) for k, v in cols.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise PointsError(
                f"The JSON columns have different lengths ({shown}), so points cannot be paired.", expected
            )
        if ignored:
            notes.append("Ignored JSON keys that are not lists: " + ", ".join(ignored[:10]) + ".")
        names = list(cols)
        _check_width(len(names))
        columns = [cols[k] for k in names]
        n = len(columns[0])

        def where(i: int) -> str:
            return f"index {i}"

        return _json_table(names, lambda j: columns[j], n, where, True, notes, expected)

    if not isinstance(obj, list):
        raise PointsError(f"The JSON holds a single {type(obj).__name__}, not a list of points.", expected)
    if not obj:
        raise PointsError("The JSON list is empty.", expected)
    if all(isinstance(r, list) for r in obj):
        widths = [len(r) for r in obj]
        wide = [w for w in widths if w >= 2]
        if not wide:
            raise PointsError("The JSON rows have fewer than two values each.", expected)
        k = Counter(wide).most_common(1)[0][0]
        _check_width(k)
        names = [f"column {j + 1}" for j in range(k)]
        too_long = np.fromiter((w > k for w in widths), dtype=bool, count=len(obj))

        def get(j: int) -> list[Any]:
            return [r[j] if j < len(r) else _ABSENT for r in obj]

        return _json_table(names, get, len(obj), lambda i: f"item {i + 1}", False, notes, expected, too_long)
    if all(isinstance(r, dict) for r in obj):
        keys: dict[str, None] = {}
        for r in obj:
            keys.update(dict.fromkeys(map(str, r)))
        names = list(keys)
        _check_width(len(names))
        rows = [{str(k): v for k, v in r.items()} for r in obj]

        def get_key(j: int) -> list[Any]:
            return [r.get(names[j], _ABSENT) for r in rows]

        return _json_table(names, get_key, len(obj), lambda i: f"item {i + 1}", True, notes, expected)
    if all(not isinstance(r, (list, dict)) for r in obj):
        raise PointsError(f"The JSON is a flat list of {len(obj):,} values, not a list of points.", expected)
    raise PointsError("The JSON list mixes points, objects and single values.", expected)


def _json_table(
    names: list[str],
    get: Callable[[int], list[Any]],
    n: int,
    where: Callable[[int], str],
    had_header: bool,
    notes: list[str],
    expected: str,
    too_long: np.ndarray | None = None,
) -> _Table:
    numeric = _numeric_columns([get(j)[:_SAMPLE] for j in range(len(names))], False)

    def column(j: int) -> tuple[np.ndarray, np.ndarray]:
        values, codes = _convert(get(j))
        if too_long is not None:
            codes[too_long] = _FIELDS
        return values, codes

    def describe(i: int, j: int) -> str:
        cell = get(j)[i]
        shown = "missing" if cell is _ABSENT else json.dumps(cell)[:40]
        return f"{where(i)}, '{names[j]}': {shown}"

    return _Table("json", names, numeric, n, column, describe, _JSON_LABELS, None, had_header, False, notes)


# --------------------------------------------------------------------------- .npy


def _parse_npy(data: bytes, max_bytes: int) -> _Table:
    expected = "Expected a .npy file (numpy.save) holding a 2-D numeric array of shape (n, 2) or (n, >2)."
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    except Exception as exc:  # malformed header: numpy raises ValueError, EOFError, SyntaxError...
        raise PointsError(f"The .npy header is unreadable ({exc}).", expected) from exc
    if dtype.hasobject:
        raise PointsError(
            "The .npy file holds Python objects (dtype=object); such arrays are never loaded "
            "(that would need allow_pickle, which can run code).",
            expected + " Convert it first, e.g. np.save(path, arr.astype(float)).",
        )
    payload = len(data) - fp.tell()
    need = math.prod(shape) * dtype.itemsize
    if need > payload:
        raise PointsError(
            f"The .npy file is truncated: its header promises {need:,} bytes of data, it holds {payload:,}.", expected
        )
    if dtype.names:
        return _npy_structured(data, shape, dtype, expected)
    if dtype.kind not in "iuf":
        kinds = {"b": "booleans", "c": "complex numbers", "U": "text", "S": "bytes", "M": "dates", "m": "durations"}
        raise PointsError(f"The .npy array holds {kinds.get(dtype.kind, str(dtype))} (dtype {dtype}).", expected)
    if len(shape) != 2:
        raise PointsError(f"The .npy array is {len(shape)}-D, shape {shape}; a table of points is 2-D.", expected)
    n, k = shape
    _check_width(k)
    if k < 2:
        raise PointsError(f"The .npy array has {k} column{'s' if k != 1 else ''} (shape {shape}).", expected)
    if n < MIN_POINTS <= k and n <= 3:
        raise PointsError(
            f"The .npy array has shape {shape}: only {n} rows but {k} columns — it looks transposed.",
            expected + " Save arr.T instead.",
        )
    arr = _np_load(data, expected)
    names = [f"column {j + 1}" for j in range(k)]

    def column(j: int) -> tuple[np.ndarray, np.ndarray]:
        values = np.asarray(arr[:, j], dtype=np.float64)
        return values, np.where(np.isfinite(values), _OK, _NONFINITE).astype(np.int8)

    def describe(i: int, j: int) -> str:
        return f"row {i}, column {j}: {float(arr[i, j])!r}"

    return _Table("npy", names, list(range(k)), n, column, describe, _LABELS)


def _np_load(data: bytes, expected: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # corrupt payload
        raise PointsError(f"The .npy file could not be read ({exc}).", expected) from exc


def _npy_structured(data: bytes, shape: tuple[int, ...], dtype: np.dtype, expected: str) -> _Table:
    if len(shape) != 1:
        raise PointsError(f"The .npy record array has shape {shape}; expected one record per point (1-D).", expected)
    names = list(dtype.names or ())
    _check_width(len(names))
    numeric = [j for j, name in enumerate(names) if dtype[name].kind in "iuf" and dtype[name].shape == ()]
    arr = _np_load(data, expected)

    def column(j: int) -> tuple[np.ndarray, np.ndarray]:
        if j not in numeric:
            return np.full(len(arr), np.nan), np.full(len(arr), _TEXT, dtype=np.int8)
        values = np.asarray(arr[names[j]], dtype=np.float64)
        return values, np.where(np.isfinite(values), _OK, _NONFINITE).astype(np.int8)

    def describe(i: int, j: int) -> str:
        return f"record {i}, field '{names[j]}': {float(arr[i][names[j]])!r}"

    return _Table("npy", names, numeric, shape[0], column, describe, _LABELS, had_header=True)


# --------------------------------------------------------------------------- the format dispatcher


def _parse(data: bytes | str, name: str | None, max_bytes: int) -> _Table:
    ext = os.path.splitext(name)[1].lower() if name else ""
    notes: list[str] = []
    if isinstance(data, bytes):
        if not data.strip():
            raise PointsError(
                "The file is empty." if not data else "The file is empty (only blank lines).", _accepted(max_bytes)
            )
        if data.startswith(b"\x93NUMPY"):
            table = _parse_npy(data, max_bytes)
            if ext != ".npy" and name:
                table.notes.append(f"'{name}' holds a .npy array; read it as one.")
            return table
        kind = _binary_kind(data)
        if kind is not None:
            raise PointsError(f"This looks like {kind}, not a table of points.", _accepted(max_bytes))
        try:
            text, encoding = _decode(data, max_bytes)
        except PointsError:
            if ext == ".npy":
                raise PointsError(
                    f"'{name}' is not a NumPy .npy file (it lacks the \\x93NUMPY header).",
                    "Expected a file written by numpy.save with a 2-D numeric array.",
                ) from None
            raise
        if encoding not in ("utf-8", "utf-8-sig"):
            notes.append(f"Decoded the text as {encoding} (it is not UTF-8).")
    else:
        text = data
        if not text.strip():
            raise PointsError(
                "The file is empty." if not text else "The file is empty (only blank lines).", _accepted(max_bytes)
            )
        text = _plausible(text, "readable", max_bytes)
    looks_json = text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{")
    if looks_json or ext == ".json":
        try:
            table = _parse_json(text, max_bytes)
        except PointsError as json_error:
            # Invalid JSON that is not dressed as JSON (or not named .json) may still be a table.
            if "not valid JSON" not in json_error.problem or (looks_json and ext == ".json"):
                raise
            try:
                table = _parse_text(text, ext, max_bytes)
            except PointsError:
                if looks_json:
                    raise json_error from None
                raise
            if not looks_json:
                notes.append(f"'{name}' holds delimited text, not JSON; read it as such.")
    else:
        table = _parse_text(text, ext, max_bytes)
        if ext == ".npy":
            notes.append(f"'{name}' holds delimited text, not a .npy array; read it as such.")
    table.notes[:0] = notes
    return table


def _check_width(ncols: int) -> None:
    if ncols > _MAX_COLUMNS:
        raise PointsError(
            f"The table has {ncols:,} columns; at most {_MAX_COLUMNS:,} are read.",
            "Expected a table of points: one row per point, a few columns (x, y, ...).",
        )


def _pick(columns: Any, table: _Table) -> tuple[int, int]:
    available = [table.names[j] for j in table.numeric]
    listing = ", ".join(f"{i}: '{n}'" for i, n in enumerate(available))
    expected = f"Expected columns= as two names or two 0-based indices among the numeric columns ({listing})."
    if columns is None:
        preferred = [
            j for j in table.numeric if j not in table.index_like and not _INDEX_NAME.fullmatch(table.names[j])
        ]
        pick = preferred if len(preferred) >= 2 else table.numeric
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
            picked.append(table.numeric[int(c)])
        elif isinstance(c, str):
            if c in available:
                picked.append(table.numeric[available.index(c)])
            elif c in table.names:
                raise PointsError(f"Column '{c}' is not numeric.", expected)
            else:
                raise PointsError(f"There is no column '{c}'.", expected)
        else:
            raise PointsError(f"columns= entry {c!r} is neither a name nor an index.", expected)
    if picked[0] == picked[1]:
        raise PointsError(f"columns={columns!r} names the same column twice.", expected)
    return picked[0], picked[1]


# --------------------------------------------------------------------------- the public loader


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
    like a row index: a nameless first column under a header, or one named "id", "index"...). Rows with a non-numeric,
        empty, NaN or infinite cell in those columns are dropped and counted. More than ``max_points``
        clean points are subsampled with ``seed`` (deterministic, file order kept).

        Returns a float64 array of shape ``(n, 2)`` and a :class:`LoadReport`. Raises
        :class:`PointsError` (a ``ValueError``) saying what was wrong and what is accepted.

        >>> import io
        >>> text = "x,y,label\\n" + "".join(f"{i},{i * i % 5},p{i}\\n" for i in range(10)) + "oops,1,p\\n"
        >>> points, report = load_points(io.StringIO(text))
        >>> points[:2].tolist(), report.rows_read, report.dropped
        ([[0.0, 0.0], [1.0, 1.0]], 11, {'non-numeric cell': 1})
    """
    if not isinstance(max_points, numbers.Integral) or isinstance(max_points, bool) or max_points < MIN_POINTS:
        raise ValueError(f"max_points must be an integer >= {MIN_POINTS}, got {max_points!r}")
    if not isinstance(max_bytes, numbers.Integral) or isinstance(max_bytes, bool) or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    data, name = _read_source(source, int(max_bytes), filename)
    table = _parse(data, name, int(max_bytes))

    if len(table.numeric) < 2:
        found = len(table.names)
        listing = ", ".join(f"'{table.names[j]}'" for j in table.numeric) or "none"
        raise PointsError(
            f"The file has fewer than two numeric columns ({found} column{'s' if found != 1 else ''}; numeric: {listing}).",
            "Expected at least two columns of numbers (x and y). " + _accepted(int(max_bytes)),
        )
    a, b = _pick(columns, table)
    names = (table.names[a], table.names[b])
    va, ca = table.column(a)
    vb, cb = table.column(b)
    codes = np.maximum(ca, cb)
    keep = codes == _OK
    dropped: dict[str, int] = {}
    notes = list(table.notes)
    for code in sorted(set(np.unique(codes).tolist()) - {_OK}, reverse=True):
        rows = np.flatnonzero(codes == code)
        label = table.labels[code]
        dropped[label] = len(rows)
        i = int(rows[0])
        j = a if ca[i] == code else b
        notes.append(
            f"{label}: {len(rows):,} row{'s' if len(rows) != 1 else ''} dropped, first at {table.describe(i, j)}."
        )
    points = np.column_stack([va[keep], vb[keep]]).astype(np.float64, copy=False)
    n_clean = len(points)
    if n_clean < MIN_POINTS:
        why = "; dropped " + ", ".join(f"{n} × {r}" for r, n in dropped.items()) if dropped else ""
        raise PointsError(
            f"Too few points: {n_clean} usable row{'s' if n_clean != 1 else ''} of {table.n_rows} read{why}.",
            f"Expected at least {MIN_POINTS} rows with two finite numbers in columns '{names[0]}' and '{names[1]}'.",
        )
    big = np.abs(points).max(axis=0)
    for j in (0, 1):
        if big[j] > _MAX_ABS:
            raise PointsError(
                f"Column '{names[j]}' holds values as large as {big[j]:.3g}; beyond ±{_MAX_ABS:.0e} squares overflow.",
                f"Expected magnitudes below {_MAX_ABS:.0e}: rescale the data (e.g. change units) before uploading.",
            )
    duplicates = n_clean - len(np.unique(points + 0.0, axis=0))  # + 0.0 makes -0.0 equal 0.0

    subsampled_from = None
    if n_clean > max_points:
        rng = np.random.default_rng(seed)
        points = points[np.sort(rng.choice(n_clean, size=int(max_points), replace=False))]
        subsampled_from = n_clean
        notes.append(f"Subsampled {int(max_points):,} of {n_clean:,} points at random (seed {seed}, file order kept).")
    _check_shape(points, names, notes)

    if len(table.numeric) > 2 and columns is None:
        skipped = [f"'{table.names[j]}'" for j in table.numeric if j < b and j not in (a, b)]
        why = f" (skipped {', '.join(skipped)}: looks like a row index)" if skipped else ""
        notes.append(
            f"Using '{names[0]}' and '{names[1]}' of {len(table.numeric)} numeric columns{why}; "
            "pass columns= to choose others."
        )
    report = LoadReport(
        rows_read=table.n_rows,
        rows_used=len(points),
        dropped=dropped,
        columns_used=names,
        available_columns=[table.names[j] for j in table.numeric],
        delimiter=table.delimiter,
        had_header=table.had_header,
        decimal_comma=table.decimal_comma,
        format=table.format,
        duplicates=int(duplicates),
        subsampled_from=subsampled_from,
        notes=notes,
    )
    return points, report


def _check_shape(points: np.ndarray, names: tuple[str, str], notes: list[str]) -> None:
    """Refuse clouds a flow cannot fit: too few distinct points, a constant column, a line."""
    line = "a flow cannot fit a density on a line"
    distinct = len(np.unique(points + 0.0, axis=0))
    if distinct < MIN_POINTS:
        raise PointsError(
            f"Only {distinct} distinct point{'s' if distinct != 1 else ''} (of {len(points)} rows): "
            "a density needs a cloud, not a few repeated points.",
            f"Expected at least {MIN_POINTS} distinct points.",
        )
    mean = points.mean(axis=0)
    std = points.std(axis=0)
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
    z = (points - mean) / std
    if not np.isfinite(z).all():
        raise PointsError(
            "The values cannot be standardised within floating point range.",
            "Expected moderate magnitudes: rescale the data before uploading.",
        )
    s = np.linalg.svd(z / math.sqrt(len(z)), compute_uv=False)
    thickness = float(s[1] / s[0])
    if thickness < _MIN_THICKNESS:
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
    ratio = float(max(std) / min(std))
    if ratio > 1e6:
        notes.append(
            f"The columns' spreads differ by a factor {ratio:.1e}; each is standardised before training, "
            "so both shapes count."
        )
    for j in (0, 1):
        levels = len(np.unique(points[:, j]))
        if levels <= 10:
            notes.append(f"Column '{names[j]}' takes only {levels} distinct values: the flow will see stripes.")
