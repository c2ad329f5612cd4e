"""Benchmark the shipped image flows: warm sampling time and the page's cold first render.

    python -m bench.image_bench            # prints one line per measurement (never part of pass/fail)

- sampling: 64 samples at T = 1 from a warm model (one warm-up call, then the median of 7), 1 torch thread;
- cold render: a fresh Python process runs ``AppTest.from_file("pages/images.py").run()`` with an empty
  ``st.cache_resource``; reported with and without the process's imports (torch, streamlit, ...).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from realnvp.image.catalog import list_flows, load_flow

ROOT = Path(__file__).resolve().parent.parent


COLD = """
import time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
import torch, realnvp.image.catalog
t1 = time.perf_counter()
at = AppTest.from_file({page!r}, default_timeout=60)
at.run()
t2 = time.perf_counter()
assert not at.exception, at.exception
print(f"{{t1 - t0:.2f}} {{t2 - t1:.2f}}")
"""


def sampling() -> None:
    torch.set_num_threads(1)
    for info in list_flows():
        if not info.ok:
            print(f"{info.name}: disabled ({info.error})")
            continue
        model = load_flow(info.name).model
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            model.sample(64, 1.0, g)
            times = []
            for _ in range(7):
                start = time.perf_counter()
                model.sample(64, 1.0, g)
                times.append(time.perf_counter() - start)
        print(f"{info.name}: 64 samples in {statistics.median(times) * 1000:.0f} ms (median of 7, 1 thread)")


def cold_render() -> None:
    code = COLD.format(page=str(ROOT / "pages" / "images.py"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    imports, render = (float(v) for v in out.stdout.split()[-2:])
    print(f"page cold first render: {render:.2f} s (+ {imports:.2f} s importing streamlit/torch in a new process)")


if __name__ == "__main__":
    sampling()
    cold_render()
