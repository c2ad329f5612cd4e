"""Spline couplings against the affine default: held-out gap to the entropy floor at equal steps and equal seconds.

On checkerboard (noise 0.05) and two spirals (noise 0.1), 10,000 training and 5,000 held-out points, batch 256,
Adam 3e-3 with the ``train-2d`` cosine decay, 1 torch thread, for each seed:

- **affine**: the default flow (8 affine couplings, tanh scales, 2×64 conditioners; the hand-written gradient);
- **spline**: rational-quadratic spline couplings (by default 6 couplings of 2×64, 8 bins, tail bound 3: 34,698
  parameters against the affine default's 35,344; ``--spline-layers 3 --spline-bins 16`` is the faster one that
  still fits as well as zuko: 22,029 parameters); the hand-written gradient (conditioners by fastgrad, splines by
  realnvp.spline's own backward);
- **zuko** (a baseline, when ``zuko`` is installed; it is not a dependency, ``pip install zuko`` to get the column):
  zuko's NSF in coupling form (``passes=2``), 8 transforms of 2×64, 8 bins, on the same standardised points,
  batch size, schedule, clipping and held-out set; its own Adam; its weights drawn from torch's global generator
  seeded with the seed. ``--no-zuko`` skips it.

All run ``--steps`` steps (equal steps). Then each gets the other's wall-clock time (equal seconds): the affine
flow trains for as many steps as it does in the spline's time, the spline for as many as it does in the affine's
time — each with its own cosine schedule over its own step count. Gaps are held-out NLL minus the dataset's true
entropy (nats); steps/s count training only. Prints a table per dataset and the medians over seeds, and a
"vs zuko" line: the spline's steps/s over zuko's and the difference of their median gaps (the goal of issue #17:
zuko's fit within 0.02 nats at ≥ 3× its speed).

    python -m bench.spline_vs_affine                      # 3 seeds, 3,000 steps: about 6 minutes on one core
    python -m bench.spline_vs_affine --steps 1000 --seeds 0
    python -m bench.spline_vs_affine --spline-layers 3 --spline-bins 16   # with zuko: about 20 minutes
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from realnvp.flow import FlowConfig
from realnvp.training import OptimConfig, Trainer

DATASETS = {"checkerboard": 0.05, "spirals": 0.1}


def run(dataset: str, noise: float, flow: FlowConfig, steps: int, seed: int) -> dict:
    optim = OptimConfig(lr=3e-3, batch_size=256, grad_clip=1.0, schedule="cosine", total_steps=max(steps, 1))
    trainer = Trainer.for_dataset(dataset, noise=noise, n_points=10_000, seed=seed, flow=flow, optim=optim)
    start = time.perf_counter()
    trainer.step(steps)
    seconds = time.perf_counter() - start
    nll = trainer.evaluate()
    return {
        "steps": trainer.step_count,
        "seconds": seconds,
        "steps_per_s": steps / seconds if seconds > 0 else float("nan"),
        "nll": nll,
        "gap": nll - trainer.entropy,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "backward": "hand-written" if trainer.use_manual_backward else "autograd",
    }


def run_zuko(dataset: str, noise: float, steps: int, seed: int) -> dict | None:
    """zuko's NSF (coupling form) trained like :func:`run`'s flows; None when zuko is not installed."""
    try:
        import zuko
    except ImportError:
        return None
    optim = OptimConfig(lr=3e-3, batch_size=256, grad_clip=1.0, schedule="cosine", total_steps=max(steps, 1))
    data = Trainer.for_dataset(dataset, noise=noise, n_points=10_000, seed=seed, flow=FlowConfig(n_layers=1))
    torch.manual_seed(seed)
    flow = zuko.flows.NSF(2, bins=8, transforms=8, hidden_features=(64, 64), passes=2)
    adam = torch.optim.Adam(flow.parameters(), lr=optim.lr)
    generator = torch.Generator().manual_seed(seed)
    x, n = data.x_train, data.x_train.shape[0]
    order, cursor = torch.randperm(n, generator=generator), 0
    start = time.perf_counter()
    for step in range(steps):
        if cursor + optim.batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        batch = x[order[cursor : cursor + optim.batch_size]]
        cursor += optim.batch_size
        progress = step / optim.total_steps  # the trainer's cosine decay
        ratio = optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in adam.param_groups:
            group["lr"] = optim.lr * ratio
        loss = -flow().log_prob(batch).mean()
        adam.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), optim.grad_clip)
        adam.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        nll = -float(flow().log_prob(data.x_heldout).double().mean()) + data.nll_offset
    return {
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds if seconds > 0 else float("nan"),
        "nll": nll,
        "gap": nll - data.entropy,
        "params": sum(p.numel() for p in flow.parameters()),
        "backward": "autograd (zuko)",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--spline-layers", type=int, default=6)
    parser.add_argument("--spline-bins", type=int, default=8)
    parser.add_argument("--tail-bound", type=float, default=3.0)
    parser.add_argument("--no-zuko", action="store_true", help="skip the zuko baseline")
    parser.add_argument("--json", default=None, help="also write every run to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    affine = FlowConfig()
    spline = FlowConfig(
        n_layers=args.spline_layers, coupling="spline", spline_bins=args.spline_bins, tail_bound=args.tail_bound
    )
    print(
        f"affine: {affine.n_layers} couplings {affine.hidden_dims}; spline: {spline.n_layers} couplings "
        f"{spline.hidden_dims}, {spline.spline_bins} bins, tail bound {spline.tail_bound}; {args.steps} steps, "
        f"seeds {args.seeds}, 1 thread",
        flush=True,
    )
    with_zuko = not args.no_zuko
    if with_zuko:
        try:
            import zuko  # noqa: F401
        except ImportError:
            with_zuko = False
            print("zuko is not installed: no zuko column (pip install zuko to get it)", flush=True)
    records = []
    for dataset in args.datasets:
        noise = DATASETS[dataset]
        rows = []
        for seed in args.seeds:
            a = run(dataset, noise, affine, args.steps, seed)
            s = run(dataset, noise, spline, args.steps, seed)
            # equal seconds: each flow gets the other's wall-clock time, at its own measured speed
            a_t = run(dataset, noise, affine, max(round(a["steps_per_s"] * s["seconds"]), 1), seed)
            s_t = run(dataset, noise, spline, max(round(s["steps_per_s"] * a["seconds"]), 1), seed)
            row = {"dataset": dataset, "seed": seed, "affine": a, "spline": s, "affine_at_spline_time": a_t}
            row["spline_at_affine_time"] = s_t
            if with_zuko:
                row["zuko"] = run_zuko(dataset, noise, args.steps, seed)
            rows.append(row)
            records.append(row)
            print(
                f"  {dataset} seed {seed}: equal steps affine {a['gap']:+.3f} / spline {s['gap']:+.3f}; "
                f"in the spline's {s['seconds']:.1f} s affine ({a_t['steps']} steps) {a_t['gap']:+.3f}; "
                f"in the affine's {a['seconds']:.1f} s spline ({s_t['steps']} steps) {s_t['gap']:+.3f}; "
                f"steps/s {a['steps_per_s']:.0f} / {s['steps_per_s']:.0f}"
                + (
                    f"; zuko {row['zuko']['gap']:+.3f} at {row['zuko']['steps_per_s']:.0f} steps/s" if with_zuko else ""
                ),
                flush=True,
            )
        print(f"\n{dataset} (noise {noise}): gap to the entropy floor, nats (median over seeds {args.seeds})\n")
        print("| run | params | steps | seconds | steps/s | gap per seed | median gap |")
        print("|---|---|---|---|---|---|---|")
        keys = [
            ("affine", f"affine, {args.steps} steps"),
            ("spline", f"spline, {args.steps} steps"),
            ("affine_at_spline_time", "affine, the spline's seconds"),
            ("spline_at_affine_time", "spline, the affine's seconds"),
        ]
        if with_zuko:
            keys.append(("zuko", f"zuko NSF (8 coupling transforms, 8 bins), {args.steps} steps"))
        for key, label in keys:
            runs = [r[key] for r in rows]
            print(
                f"| {label} | {runs[0]['params']:,} | {statistics.median(r['steps'] for r in runs):.0f} | "
                f"{statistics.median(r['seconds'] for r in runs):.1f} | "
                f"{statistics.median(r['steps_per_s'] for r in runs):.0f} | "
                f"{' / '.join(format(r['gap'], '+.3f') for r in runs)} | "
                f"{statistics.median(r['gap'] for r in runs):+.3f} |"
            )
        if with_zuko:
            ratio = statistics.median(r["spline"]["steps_per_s"] / r["zuko"]["steps_per_s"] for r in rows)
            spline_gap = statistics.median(r["spline"]["gap"] for r in rows)
            zuko_gap = statistics.median(r["zuko"]["gap"] for r in rows)
            print(
                f"\nvs zuko ({dataset}): spline {ratio:.2f}× zuko's steps/s (median of per-seed ratios), median gap "
                f"{spline_gap:+.3f} against {zuko_gap:+.3f} ({spline_gap - zuko_gap:+.3f}); issue #17's goal: gap within "
                f"0.02 of zuko's ({'met' if spline_gap <= zuko_gap + 0.02 else 'missed'}) at ≥ 3× its speed "
                f"({'met' if ratio >= 3 else 'missed'})"
            )
        else:
            print("\n(no zuko column: zuko is not installed or --no-zuko was given)")
        print(flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
