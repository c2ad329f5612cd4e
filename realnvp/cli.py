"""Command line: ``python -m realnvp {train-2d, sample, train-image, eval-image} ...``.

python -m realnvp train-2d --dataset moons --noise 0.1 --steps 3000 --out runs/moons --json
python -m realnvp sample runs/moons -n 1000 -o points.csv

A knob has one spelling: the long flags are the library's names (``--n-layers`` for ``FlowConfig.n_layers``,
``--batch-size`` for ``OptimConfig.batch_size``, ``--grad-clip``, ``--hidden-dims``, ``--n-points``); the short
forms ``--layers``, ``--batch``, ``--clip``, ``--hidden``, ``--n`` are accepted too (they are the Playground's URL
names).

>>> args = build_parser().parse_args(["train-2d", "--dataset", "spirals", "--steps", "10"])
>>> args.dataset, args.steps, args.func is cmd_train_2d
('spirals', 10, True)
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

__all__ = ["main", "build_parser"]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_train_2d(args: argparse.Namespace) -> int:
    import torch

    from realnvp.checkpoint import save_flow
    from realnvp.flow import FlowConfig
    from realnvp.training import OptimConfig, Trainer

    torch.set_num_threads(args.threads)
    flow = FlowConfig(
        dim=2,
        n_layers=args.n_layers,
        hidden_dims=tuple(args.hidden_dims),
        coupling=args.coupling,
        scale=args.scale,
        mask=args.mask,
        norm=args.norm,
        spline_bins=args.spline_bins,
        tail_bound=args.tail_bound,
    )
    optim = OptimConfig(
        optimizer=args.optimizer,
        lr=args.lr,
        batch_size=args.batch_size,
        grad_clip=args.grad_clip,
        schedule=args.schedule,
        total_steps=args.steps,
    )
    trainer = Trainer.for_dataset(
        args.dataset,
        noise=args.noise,
        n_points=args.n_points,
        seed=args.seed,
        flow=flow,
        optim=optim,
        device=args.device,
    )
    _progress(
        f"train-2d: {args.dataset} (noise {args.noise}, n {args.n_points}, seed {args.seed}), {args.n_layers} "
        f"{args.coupling} layers, "
        f"hidden {args.hidden_dims}, batch {args.batch_size}, lr {args.lr} ({args.schedule}), {args.steps} steps"
    )
    start = time.perf_counter()
    done = 0
    report_every = max(args.steps // 10, 1)
    while done < args.steps:
        n = min(report_every, args.steps - done)
        trainer.step(n)
        done += n
        nll = trainer.evaluate()
        gap = f", gap {trainer.gap:+.4f}" if trainer.gap is not None else ""
        _progress(f"  step {trainer.step_count:6d}  held-out NLL {nll:.4f} nats{gap}")
    seconds = time.perf_counter() - start
    for event in trainer.history.events:
        _progress(f"  guard: {event}")
    test_nll = trainer.evaluate()
    result = {
        "dataset": args.dataset,
        "noise": args.noise,
        "test_nll": test_nll,
        "entropy": trainer.entropy,
        "gap": trainer.gap,
        "steps": trainer.step_count,
        "seconds": seconds,
        "steps_per_s": args.steps / seconds if seconds > 0 else None,
        "events": trainer.history.events,
    }
    if args.out:
        save_flow(
            args.out,
            trainer.model,
            standardizer=trainer.standardizer,
            extra={"training": {k: v for k, v in result.items() if k != "events"}, "optim": optim.to_dict()},
        )
        _progress(f"saved checkpoint to {args.out}")
    if args.json:
        print(json.dumps(result))
    else:
        print(f"test NLL {test_nll:.4f} nats; entropy {trainer.entropy}; {seconds:.1f} s")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from realnvp.checkpoint import load_flow, standardizer_from_meta

    model, meta = load_flow(args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    x = model.sample(args.n, generator=generator, temperature=args.temperature).double().numpy()
    standardizer = standardizer_from_meta(meta)
    if standardizer is not None:
        x = standardizer.inverse(x)
    header = ",".join(f"x{i}" for i in range(x.shape[1]))
    np.savetxt(args.output, x, delimiter=",", header=header, comments="", fmt="%.6g")
    _progress(f"wrote {args.n} samples to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from realnvp.coupling import COUPLINGS, MASKS, SCALES
    from realnvp.datasets import DATASETS
    from realnvp.norm import NORMS
    from realnvp.training import OPTIMIZERS, SCHEDULES

    parser = argparse.ArgumentParser(prog="python -m realnvp", description="RealNVP normalizing flows.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train-2d", help="train a flow on a built-in 2-D dataset")
    p.add_argument("--dataset", default="moons", choices=DATASETS)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--n-points", "--n", dest="n_points", type=int, default=10_000, help="training points")
    p.add_argument("--n-layers", "--layers", dest="n_layers", type=int, default=8, help="coupling layers")
    p.add_argument(
        "--hidden-dims",
        "--hidden",
        dest="hidden_dims",
        type=int,
        nargs="+",
        default=[64, 64],
        help="conditioner widths",
    )
    p.add_argument("--coupling", default="affine", choices=COUPLINGS)
    p.add_argument("--scale", default="tanh", choices=SCALES)
    p.add_argument("--mask", default="alternate", choices=MASKS)
    p.add_argument("--norm", default="none", choices=NORMS)
    p.add_argument("--spline-bins", dest="spline_bins", type=int, default=8, help="bins per spline (--coupling spline)")
    p.add_argument(
        "--tail-bound", dest="tail_bound", type=float, default=3.0, help="splines act on [-B, B] (--coupling spline)"
    )
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
    p.add_argument("--batch-size", "--batch", dest="batch_size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--schedule", default="cosine", choices=SCHEDULES)
    p.add_argument(
        "--grad-clip", "--clip", dest="grad_clip", type=float, default=1.0, help="gradient-norm clip (0: off)"
    )
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="checkpoint folder")
    p.add_argument("--json", action="store_true", help="print one JSON line with the results on stdout")
    p.set_defaults(func=cmd_train_2d)

    p = sub.add_parser("sample", help="draw samples from a saved 2-D flow into a CSV file")
    p.add_argument("checkpoint", help="checkpoint folder or .safetensors file")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("-o", "--output", default="samples.csv")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.set_defaults(func=cmd_sample)

    from realnvp.image import cli as image_cli

    image_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
