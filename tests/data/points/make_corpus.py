"""Generate the point-cloud upload corpus used by tests/lib/test_upload.py (good/ and bad/ files).

Run from the repository root; it rewrites every file, byte for byte the same each time:

    python tests/data/points/make_corpus.py

Most good files hold the same 40-point cloud :data:`BASE` in different formats, so a test can check they
all load to the same array. Its first two points are :data:`FIRST`. Every file stays well under 20 KB.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIRST = [[1.5, -2.0], [0.25, 3.0]]
BASE = np.vstack([FIRST, np.random.default_rng(0).normal(size=(38, 2)).round(4)])
"""The 40 points most good files hold: decimals with 4 places, so text and binary agree exactly."""


def _rows(points: np.ndarray, sep: str = ",", fmt: str = "{:.4f}") -> list[str]:
    return [sep.join(fmt.format(v) for v in row) for row in points]


def _text(lines: list[str], newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode("utf-8")


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def good_files() -> dict[str, bytes]:
    """Files load_points must accept."""
    b = BASE
    rng = np.random.default_rng(1)
    files: dict[str, bytes] = {}
    files["header.csv"] = _text(["x,y", *_rows(b)])
    files["no_header.csv"] = _text(_rows(b))
    files["tabs.tsv"] = _text(["x\ty", *_rows(b, "\t")])
    files["semicolon_decimal_comma.csv"] = _text(["x;y", *[r.replace(".", ",") for r in _rows(b, ";")]])
    files["whitespace.txt"] = _text(["  ".join(f"{v:>9.4f}" for v in row) for row in b])
    z = rng.normal(size=(40, 1)).round(4)
    files["three_columns.csv"] = _text(["label,x,y,z", *[f"p{i},{r}" for i, r in enumerate(_rows(np.hstack([b, z])))]])
    messy = _rows(b)
    messy[5:5] = ["abc,1.0"]
    messy[12:12] = ["2.0,"]
    messy[20:20] = ["4.0,x7"]
    files["non_numeric_rows.csv"] = _text(["x,y", *messy])
    nan_inf = _rows(b)
    nan_inf[3:3] = ["nan,1.0"]
    nan_inf[10:10] = ["1.0,inf"]
    nan_inf[30:30] = ["-Infinity,2.0"]
    files["nan_inf.csv"] = _text(["x,y", *nan_inf])
    dup = _rows(b[:30]) + _rows(b[[1, 2, 3, 5, 8, 13, 21, 1, 1, 2]])
    files["duplicates.csv"] = _text(["x,y", *dup])
    files["quoted.csv"] = _text(
        ['"name","x","y"', *[f'"Smith, J{i}",' + ",".join(f'"{v:.4f}"' for v in row) for i, row in enumerate(b)]]
    )
    files["bom.csv"] = b"\xef\xbb\xbf" + _text(["x,y", *_rows(b)])
    files["crlf.csv"] = _text(["x,y", *_rows(b)], "\r\n")
    files["latin1_header.csv"] = ("\n".join(["température,déplacement", *_rows(b)]) + "\n").encode("latin-1")
    files["utf16_bom.csv"] = ("\n".join(["x,y", *_rows(b)]) + "\n").encode("utf-16")
    files["preamble_comments.txt"] = _text(
        ["# exported by a lab instrument", "% units: metres", "Measurements from the lab bench", "x y"] + _rows(b, " ")
    )
    files["index_column.csv"] = _text([",x,y", *[f"{i},{r}" for i, r in enumerate(_rows(b))]])  # pandas to_csv
    files["points.npy"] = _npy(b)
    quarter = np.vstack([FIRST, rng.integers(-40, 40, size=(38, 2)) / 4])  # exact in float32
    files["float32_three_columns.npy"] = _npy(np.hstack([quarter, quarter[:, :1] * 2]).astype(np.float32))
    files["pairs.json"] = json.dumps(b.tolist()).encode()
    files["objects.json"] = json.dumps([{"x": x, "y": y, "label": f"p{i}"} for i, (x, y) in enumerate(b)]).encode()
    files["columns.json"] = json.dumps({"x": b[:, 0].tolist(), "y": b[:, 1].tolist()}).encode()
    mixed = b * np.array([3e-9, 1e9])  # spreads ~3e-9 and ~1e9: over the trainer's 1e-9 floor
    files["mixed_scales.csv"] = _text(["wavelength,count", *_rows(mixed, ",", "{:.4e}")])
    return files


def bad_files() -> dict[str, bytes]:
    """Files load_points must refuse with a PointsError (over_limit.csv: only with a small max_bytes)."""
    b = BASE
    rng = np.random.default_rng(2)
    files: dict[str, bytes] = {}
    files["empty.csv"] = b""
    files["only_header.csv"] = b"x,y\n"
    files["one_column.csv"] = _text([f"{v:.4f}" for v in b[:, 0]])
    files["png_bytes.csv"] = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000100000001008060000001ff3ff61")
    files["random_bytes.bin"] = rng.integers(0, 256, size=2048, dtype=np.uint8).tobytes()
    files["prose.txt"] = _text(
        [
            "Normalizing flows transform a simple base density into a complex one.",
            "Each coupling layer leaves half of the coordinates unchanged, and scales and shifts the rest.",
            "This file, however, is prose and holds no points at all.",
        ]
    )
    files["all_text.csv"] = _text(["x,y", *[f"item{i},value{i}" for i in range(20)]])
    files["too_few.csv"] = _text(["x,y", *_rows(b[:5])])
    files["nan_mostly.csv"] = _text(["x,y", *_rows(b[:6]), *["nan,1.0"] * 20])
    files["constant_column.csv"] = _text(["x,y", *[f"{v:.4f},3.0" for v in b[:, 0]]])
    files["collinear.csv"] = _text(["x,y", *[f"{v},{2 * v + 1}" for v in b[:, 0]]])
    files["huge_values.csv"] = _text(["x,y", *_rows(b * 1e300, ",", "{:.4e}")])
    files["nearly_constant.csv"] = _text(["x,y", *[f"{1 + float(v) * 1e-13!r},{w:.4f}" for v, w in b]])
    files["tiny_scale.csv"] = _text(["x,y", *[f"{float(v) * 1e-12!r},{w:.4f}" for v, w in b]])
    files["few_distinct.csv"] = _text(["x,y", *_rows(b[[0, 1, 2] * 10])])
    obj = np.empty(3, dtype=object)
    obj[:] = [[1.0, 2.0], [3.0, 4.0], "not a number"]
    files["object_array.npy"] = _npy(obj, allow_pickle=True)  # the only place pickle is ever allowed
    files["one_d.npy"] = _npy(b[:, 0].copy())
    files["transposed.npy"] = _npy(b.T.copy())
    files["complex.npy"] = _npy(b[:, 0] + 1j * b[:, 1])
    files["truncated.npy"] = _npy(np.zeros((1000, 2)))[:400]
    files["pickle.pkl"] = pickle.dumps(b.tolist(), protocol=4)
    buf = io.BytesIO()
    np.savez(buf, points=b)
    files["archive.npz"] = _zip_fixed_time(buf.getvalue())
    files["malformed.json"] = b"[[1.5, -2.0], [0.25, 3.0], [1.0, 2.0"
    files["wrong_shape.json"] = json.dumps(b[:, 0].tolist()).encode()
    files["deep.json"] = b"[" * 5000 + b"]" * 5000
    files["mismatched.json"] = json.dumps({"x": b[:12, 0].tolist(), "y": b[:15, 1].tolist()}).encode()
    files["utf16_no_bom.csv"] = ("\n".join(["x,y", *_rows(b)]) + "\n").encode("utf-16-le")
    files["over_limit.csv"] = _text(["x,y", *_rows(b)])  # fine by itself; refused with max_bytes=1024
    return files


def _zip_fixed_time(data: bytes) -> bytes:
    """np.savez stamps the current time into the zip; pin it so the file is reproducible."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def build() -> dict[str, bytes]:
    """Every corpus file as ``{"good/name": bytes, "bad/name": bytes}``."""
    groups: dict[str, Callable[[], dict[str, bytes]]] = {"good": good_files, "bad": bad_files}
    return {f"{group}/{name}": data for group, make in groups.items() for name, data in make().items()}


def write(root: Path = HERE) -> list[Path]:
    """Write the corpus under ``root`` (good/ and bad/), return the paths written."""
    paths = []
    for rel, data in build().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"{p.stat().st_size:7,d}  {p.relative_to(p.parent.parent)}")
