"""Data-parallel image-flow training: two CPU processes under torchrun (gloo) stay in lock-step."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _torchrun() -> list[str] | None:
    exe = shutil.which("torchrun")
    if exe:
        return [exe]
    try:
        import torch.distributed.run  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "torch.distributed.run"]


def test_two_process_ddp_ranks_stay_in_sync(tmp_path):
    launcher = _torchrun()
    if launcher is None:
        pytest.skip("torchrun (torch.distributed.run) is not available")
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    out, sums = tmp_path / "flow", tmp_path / "checksums"
    cmd = [
        *launcher,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "realnvp",
        "train-image",
        "--data", "digits",
        "--out", str(out),
        "--steps", "6",
        "--eval-every", "3",
        "--hidden", "8",
        "--checker", "1",
        "--channel", "1",
        "--final", "1",
        "--batch-size", "16",
        "--threads", "1",
        "--checksum-dir", str(sums),
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [json.loads((sums / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["step"] == ranks[1]["step"] == 6
    assert ranks[0]["checksum"] == ranks[1]["checksum"], ranks  # identical parameters after 6 averaged steps
    card = json.loads((out / "card.json").read_text())
    assert card["command"].startswith("torchrun --nproc_per_node=2 -m realnvp train-image")
    assert "2 processes" in card["trained_on"]
    assert "gloo" in proc.stderr or "2 process(es)" in proc.stderr
