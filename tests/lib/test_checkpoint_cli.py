"""Checkpoints (safetensors + JSON, never pickle) and the command line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from realnvp import FlowConfig
from realnvp.checkpoint import CheckpointError, flow_from_bytes, flow_to_bytes, load_flow, save_flow
from realnvp.training import Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer.for_dataset(
        "moons", n_points=500, flow=FlowConfig(n_layers=3, hidden_dims=(16,), norm="actnorm"), heldout_points=100
    )
    trainer.step(40)
    return trainer


def test_round_trip_reproduces_log_prob(trained, tmp_path):
    save_flow(tmp_path / "ckpt", trained.model, trained.standardizer, extra={"note": "test"})
    model, meta = load_flow(tmp_path / "ckpt")
    x = trained.x_heldout
    trained.model.eval()
    with torch.no_grad():
        assert torch.equal(model.log_prob(x), trained.model.log_prob(x))
    trained.model.train()
    assert meta["extra"] == {"note": "test"}
    assert np.allclose(meta["standardizer"]["mean"], trained.standardizer.mean)
    # the single-file form carries its config in the header
    model2, _ = flow_from_bytes(flow_to_bytes(trained.model, trained.standardizer))
    with torch.no_grad():
        assert torch.equal(model2.log_prob(x), model.log_prob(x))


def test_bad_and_mismatched_files_raise_clear_errors(trained, tmp_path):
    save_flow(tmp_path / "ok", trained.model, trained.standardizer)
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_flow(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_flow(tmp_path / "missing")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x80\x04pickle-ish garbage" * 10)
    with pytest.raises(CheckpointError, match="not a safetensors"):
        load_flow(tmp_path / "garbage.safetensors")
    # a config that asks for a different architecture than the weights hold
    cfg = json.loads((tmp_path / "ok" / "config.json").read_text())
    cfg["flow"]["n_layers"] = 5
    (tmp_path / "ok" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="do not match"):
        load_flow(tmp_path / "ok")
    cfg["flow"]["n_layers"] = 3
    cfg["flow"]["hidden_dims"] = [32]
    (tmp_path / "ok" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_flow(tmp_path / "ok")
    cfg["format"] = "something-else"
    (tmp_path / "ok" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="unsupported checkpoint format"):
        load_flow(tmp_path / "ok")
    (tmp_path / "ok" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_flow(tmp_path / "ok")


def test_no_pickle_anywhere_in_the_library():
    for path in (ROOT / "realnvp").rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "torch.load(" not in text, path
        assert "allow_pickle=True" not in text, path


def run_cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "realnvp", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_cli_train_2d_and_sample(tmp_path):
    out = tmp_path / "run"
    result = run_cli(
        "train-2d", "--dataset", "circles", "--n", "1000", "--layers", "3", "--hidden", "16", "16",
        "--steps", "60", "--out", str(out), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("test_nll", "entropy", "steps", "seconds", "steps_per_s"):
        assert key in line
    assert line["steps"] == 60 and np.isfinite(line["test_nll"]) and line["entropy"] > 0
    assert "held-out NLL" in result.stderr
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()

    csv = tmp_path / "points.csv"
    result = run_cli("sample", str(out), "-n", "123", "-o", str(csv))
    assert result.returncode == 0, result.stderr
    points = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert points.shape == (123, 2) and np.isfinite(points).all()


def test_cli_reports_user_errors_without_traceback(tmp_path):
    result = run_cli("sample", str(tmp_path / "nothing-here"))
    assert result.returncode == 2
    assert "error: no checkpoint" in result.stderr and "Traceback" not in result.stderr
