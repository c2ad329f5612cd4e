"""Training speed and fit: the project's Trainer against the seed document's RealNVP (and normflows if installed).

Same config for all: moons (noise 0.05, 10,000 points, standardised), 8 affine couplings with 2×64 conditioners,
batch 256, Adam lr 1e-3, gradient clip 1, 1 torch thread. Runs are interleaved A B A B so machine noise hits all
alike; prints the median steps/s and held-out NLL (nats, original units) of each and the ratio to the seed.

    python bench/train_speed.py --steps 2000 --repeats 3

Run it from the repository root. ``realnvp`` is imported as installed (``pip install -e .``) or from
``PYTHONPATH``; a plain checkout without either falls back to this checkout. The seed's module in
``../shared/reference`` is not a package: that folder is put on the path for it alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference"  # seed_realnvp.py: a baseline module, not a package
if importlib.util.find_spec("realnvp") is None:  # neither installed nor on PYTHONPATH: use this checkout
    sys.path.append(str(ROOT))
if REFERENCE.is_dir():
    sys.path.append(str(REFERENCE))

from realnvp.datasets import Standardizer, make_points, true_entropy  # noqa: E402
from realnvp.flow import FlowConfig  # noqa: E402
from realnvp.training import OptimConfig, Trainer  # noqa: E402


def heldout_nll(log_prob_fn, x_heldout: torch.Tensor, offset: float) -> float:
    with torch.no_grad():
        return -float(log_prob_fn(x_heldout).double().mean()) + offset


def run_project(train, heldout, steps, seed):
    trainer = Trainer(
        train,
        heldout,
        FlowConfig(n_layers=8, hidden_dims=(64, 64)),
        OptimConfig(lr=1e-3, batch_size=256, grad_clip=1.0),
        seed=seed,
    )
    trainer.step(20)  # warm-up (allocations), not timed
    start = time.perf_counter()
    trainer.step(steps)
    seconds = time.perf_counter() - start
    return steps / seconds, trainer.evaluate(record=False)


def run_seed(train, heldout, steps, seed):
    import seed_realnvp as ref

    std = Standardizer.fit(train)
    x = torch.as_tensor(std.transform(train), dtype=torch.float32)
    xh = torch.as_tensor(std.transform(heldout), dtype=torch.float32)
    torch.manual_seed(seed)
    model = ref.RealNVP(2, n_layers=8, hidden_dims=(64, 64))
    ref.train_steps(model, x, steps=20, seed=seed)
    start = time.perf_counter()
    ref.train_steps(model, x, steps=steps, batch_size=256, lr=1e-3, seed=seed)
    seconds = time.perf_counter() - start
    return steps / seconds, heldout_nll(model.log_prob, xh, -std.log_abs_det)


def run_normflows(train, heldout, steps, seed):
    import normflows as nf

    std = Standardizer.fit(train)
    x = torch.as_tensor(std.transform(train), dtype=torch.float32)
    xh = torch.as_tensor(std.transform(heldout), dtype=torch.float32)
    torch.manual_seed(seed)
    flows = []
    for i in range(8):
        mask = torch.tensor([1.0, 0.0] if i % 2 == 0 else [0.0, 1.0])
        s = nf.nets.MLP([2, 64, 64, 2], init_zeros=True)
        t = nf.nets.MLP([2, 64, 64, 2], init_zeros=True)
        flows.append(nf.flows.MaskedAffineFlow(mask, t, s))
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(2, trainable=False), flows)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (256,), generator=gen)
        loss = model.forward_kld(x[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    seconds = time.perf_counter() - start
    return steps / seconds, heldout_nll(model.log_prob, xh, -std.log_abs_det)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    train = make_points("moons", n=10_000, noise=0.05, seed=0)
    heldout = make_points("moons", n=5_000, noise=0.05, seed=1)
    runners = {"project": run_project}
    if (REFERENCE / "seed_realnvp.py").exists():
        runners["seed"] = run_seed
    try:
        import normflows  # noqa: F401

        runners["normflows"] = run_normflows
    except ImportError:
        pass

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for r in range(args.repeats):
        for name, runner in runners.items():  # interleaved: A B A B ...
            rate, nll = runner(train, heldout, args.steps, seed=r)
            results[name].append((rate, nll))
            print(f"  repeat {r} {name:10s} {rate:8.1f} steps/s  held-out NLL {nll:.4f}", file=sys.stderr)

    entropy = true_entropy("moons", 0.05)
    baseline = statistics.median(r for r, _ in results["seed"]) if "seed" in results else None
    rows = []
    print(f"\nmoons 0.05 (entropy {entropy:.3f} nats), 8 couplings 2x64, batch 256, {args.steps} steps, 1 thread")
    print(f"{'model':10s} {'median steps/s':>15s} {'held-out NLL':>13s} {'vs seed':>8s}")
    for name, values in results.items():
        rate = statistics.median(r for r, _ in values)
        nll = statistics.median(n for _, n in values)
        ratio = rate / baseline if baseline else float("nan")
        rows.append({"model": name, "steps_per_s": rate, "heldout_nll": nll, "ratio_vs_seed": ratio})
        print(f"{name:10s} {rate:15.1f} {nll:13.4f} {ratio:7.2f}x")
    if args.json:
        print(json.dumps({"entropy": entropy, "rows": rows}))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
