"""Command-line training, evaluation and sampling of image flows: ``train-image``, ``eval-image``, ``sample-image``.

``register(subparsers)`` adds the subcommands to the project's ``python -m realnvp`` parser; this module also
runs on its own (``python -m realnvp.image.cli train-image ...``). Examples::

    python -m realnvp train-image --data digits --out assets/flows/digits --steps 4000 --threads 1
    python -m realnvp eval-image digits --split test --json        # {"bpd": ..., "n": ...}
    python -m realnvp train-image --data digits --conditional --out /tmp/cd --steps 4000   # p(x | digit)
    python -m realnvp sample-image digits-conditional --label 7 --temperature 0.7 -n 16 -o sevens.npy
    torchrun --nproc_per_node=2 -m realnvp train-image --data digits --out /tmp/d --steps 20

Training prints progress on stderr, evaluates held-out (validation) bits/dim every ``--eval-every`` steps,
keeps the best weights (early stopping after ``--patience`` evaluations without improvement), and can resume
an interrupted run (``--resume``) from ``<out>/train_state/`` (safetensors + JSON, no pickle). Under
``torchrun`` (``RANK``/``WORLD_SIZE`` set) it trains data-parallel with torch.distributed DDP: gloo on CPU,
NCCL on GPU; each rank draws its own batches, gradients are averaged, rank 0 evaluates and writes files.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from realnvp.image import (
    ImageFlowConfig,
    ImageRealNVP,
    baseline_bits_per_dim,
    class_bits_per_dim,
    dataset_bits_per_dim,
    marginal_bits_per_dim,
)
from realnvp.image.catalog import PUBLISHED_BPD, load_flow, save_flow
from realnvp.image.data import DATASETS, augment, heldout_indices, load_image_data

__all__ = ["register", "main", "train_image", "eval_image", "sample_image"]

STATE_DIR = "train_state"
EVAL_SEED = 0


# ---------------------------------------------------------------------------------------------- parser
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-image`` and ``eval-image`` to a parser's subcommands (each sets ``func(args) -> int``).

    >>> parser = argparse.ArgumentParser(prog="realnvp")
    >>> register(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["eval-image", "digits", "--json"]).split
    'test'
    """
    t = subparsers.add_parser("train-image", help="train a multi-scale image RealNVP on an offline dataset")
    t.add_argument("--data", choices=DATASETS, required=True, help="digits (8x8), mnist (28x28), patches")
    t.add_argument("--out", required=True, help="output folder (model.safetensors, config.json, card.json)")
    t.add_argument("--steps", type=int, default=3000, help="optimiser steps (the cosine schedule's length)")
    t.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    t.add_argument("--batch-size", type=int, default=64, help="images per step per process")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=100, help="linear learning-rate warm-up steps")
    t.add_argument("--weight-decay", type=float, default=0.0, help="AdamW decoupled weight decay")
    t.add_argument("--grad-clip", type=float, default=50.0, help="max global gradient norm")
    t.add_argument("--eval-every", type=int, default=100, help="validation bits/dim every N steps")
    t.add_argument("--patience", type=int, default=10, help="stop after N evaluations without improvement")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch threads per process")
    t.add_argument("--device", default="cpu", help="cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from <out>/train_state if present")
    t.add_argument("--keep-state", action="store_true", help="keep <out>/train_state after finishing")
    t.add_argument("--shift", type=int, default=0, help="augment: random translation up to N pixels")
    t.add_argument("--flip", action="store_true", help="augment: random horizontal flips")
    t.add_argument("--scales", type=int, default=2)
    t.add_argument("--checker", type=int, default=3, help="checkerboard couplings per scale")
    t.add_argument("--channel", type=int, default=3, help="channel couplings per scale")
    t.add_argument("--final", type=int, default=4, help="checkerboard couplings at the last scale")
    t.add_argument("--hidden", type=int, default=32, help="conditioner width")
    t.add_argument("--blocks", type=int, default=1, help="residual blocks per conditioner")
    t.add_argument("--no-weight-norm", action="store_true", help="plain convs in the conditioners")
    t.add_argument("--dropout", type=float, default=0.0, help="dropout inside the conditioners' residual blocks")
    t.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help="evaluate and save an exponential moving average of the weights with this decay (e.g. 0.999; 0: off)",
    )
    t.add_argument("--alpha", type=float, default=0.05, help="logit preprocessing margin")
    t.add_argument("--dequant", choices=("uniform", "variational"), default="uniform")
    t.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional flow p(x | label): the label conditions every coupling (digits, mnist)",
    )
    t.add_argument("--where", default=None, help="where it trained, for the card (default: detected)")
    t.add_argument("--checksum-dir", default=None, help="write each rank's parameter checksum here (tests)")
    t.set_defaults(func=train_image)

    e = subparsers.add_parser("eval-image", help="held-out bits/dim of a shipped or trained image flow")
    e.add_argument("name", help="a folder under assets/flows (digits, mnist5k, patches) or a folder path")
    e.add_argument("--split", choices=("train", "val", "test"), default="test")
    e.add_argument("--seed", type=int, default=EVAL_SEED, help="dequantisation noise seed")
    e.add_argument("--json", action="store_true", help='print {"bpd": ..., "n": ...}')
    e.add_argument("--threads", type=int, default=1)
    e.set_defaults(func=eval_image)

    s = subparsers.add_parser("sample-image", help="draw images from a shipped or trained image flow into a .npy")
    s.add_argument("flow", help="a shipped flow's name (see assets/flows) or a flow folder")
    s.add_argument("--label", type=int, default=None, help="class to draw (class-conditional flows; default: mixed)")
    s.add_argument("--temperature", type=float, default=1.0, help="latent scale; 1.0 samples the model exactly")
    s.add_argument("--seed", type=int, default=0, help="seed of the latent draw")
    s.add_argument("-n", type=int, default=16, help="number of images")
    s.add_argument("-o", "--out", required=True, help="output .npy: (N, H, W) or (N, C, H, W) uint8 levels")
    s.add_argument("--threads", type=int, default=1)
    s.set_defaults(func=sample_image)


def main(argv: list[str] | None = None) -> int:
    """Run ``train-image`` / ``eval-image`` without the project-wide CLI."""
    parser = argparse.ArgumentParser(prog="python -m realnvp.image.cli")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- eval
def eval_image(args: argparse.Namespace) -> int:
    """``eval-image``: bits/dim of a flow on a split of its dataset (deterministic dequantisation)."""
    torch.set_num_threads(args.threads)
    try:
        flow = load_flow(args.name)
        data = load_image_data(flow.config["dataset"])
    except ValueError as exc:
        _log(f"eval-image: {exc}")
        return 2
    levels = data.get(args.split)
    labels = data.labels(args.split) if flow.n_classes else None  # a conditional flow: P(image | its label)
    bpd = dataset_bits_per_dim(flow.model, levels, seed=args.seed, labels=labels)
    if args.json:
        print(json.dumps({"bpd": round(bpd, 6), "n": len(levels)}))
    else:
        print(f"{flow.name}: {args.split} bits/dim {bpd:.4f} over {len(levels)} images")
    return 0


# ---------------------------------------------------------------------------------------------- sample
def sample_image(args: argparse.Namespace) -> int:
    """``sample-image``: ``n`` images as integer levels in the data's own range (0..K-1) written to a ``.npy``.

    Grayscale flows give ``(N, H, W)``, colour flows ``(N, C, H, W)``. A class-conditional flow draws
    ``--label``'s class, or, without it, a label per image uniformly (the flow as a mixture).
    """
    torch.set_num_threads(args.threads)
    try:
        if args.n < 1:
            raise ValueError(f"-n must be at least 1, got {args.n}")
        if not args.temperature > 0:
            raise ValueError(f"--temperature must be positive, got {args.temperature}")
        flow = load_flow(args.flow)
        labels = sample_labels(flow.model, args.n, args.label, args.seed)
    except ValueError as exc:
        _log(f"sample-image: {exc}")
        return 2
    generator = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        levels = flow.model.quantize(flow.model.sample(args.n, args.temperature, generator, labels)).numpy()
    if levels.shape[1] == 1:
        levels = levels[:, 0]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, levels, allow_pickle=False)
    _log(f"{flow.name}: {args.n} samples at T={args.temperature} -> {out} {levels.shape}, levels 0..{levels.max()}")
    return 0


def sample_labels(model: ImageRealNVP, n: int, label: int | None, seed: int) -> Tensor | None:
    """Labels for ``n`` samples: ``label`` for all, a uniform draw per image when None; None if unconditional."""
    k = model.config.n_classes
    if k == 0:
        if label is not None:
            raise ValueError("this flow is unconditional: --label needs a class-conditional flow")
        return None
    if label is None:
        return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed + 1))
    if not 0 <= label < k:
        raise ValueError(f"--label must be one of 0..{k - 1}, got {label}")
    return torch.full((n,), label, dtype=torch.long)


# ---------------------------------------------------------------------------------------------- train
class _Objective(nn.Module):
    """Training loss as a module ``forward`` so DistributedDataParallel can hook it: mean bits/dim."""

    def __init__(self, flow: ImageRealNVP):
        super().__init__()
        self.flow = flow

    def forward(self, levels: Tensor, generator: torch.Generator, labels: Tensor | None = None) -> Tensor:
        return self.flow.bits_per_dim(levels, generator, labels).mean()


def _flow_config(args: argparse.Namespace, data) -> ImageFlowConfig:
    c, h, w = data.train.shape[1:]
    if args.conditional and not data.n_classes:
        raise ValueError(f"--conditional needs labelled data; {data.name} has no labels (use digits or mnist)")
    return ImageFlowConfig(
        channels=c,
        height=h,
        width=w,
        n_levels=data.n_levels,
        n_scales=args.scales,
        n_checker=args.checker,
        n_channel=args.channel,
        n_final=args.final,
        hidden=args.hidden,
        n_blocks=args.blocks,
        weight_norm=not args.no_weight_norm,
        dropout=args.dropout,
        alpha=args.alpha,
        dequant=args.dequant,
        n_classes=data.n_classes if args.conditional else 0,
    )


def _lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate at ``total`` steps."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))


def _save_state(
    folder: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator, meta: dict
):
    """Resumable training state: model, averaged model, optimiser moments and RNG in safetensors, counters in JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not model:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    opt_state = opt.state_dict()
    for idx, slots in opt_state["state"].items():
        for key, value in slots.items():
            tensors[f"opt.{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    tensors["rng"] = gen.get_state()
    save_file(tensors, str(folder / "state.safetensors.tmp"))
    os.replace(folder / "state.safetensors.tmp", folder / "state.safetensors")
    meta = dict(meta, param_groups=opt_state["param_groups"])
    (folder / "state.json").write_text(json.dumps(meta, indent=2) + "\n")


def _load_state(
    folder: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator
) -> dict:
    tensors = load_file(str(folder / "state.safetensors"))
    meta = json.loads((folder / "state.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not model:
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, slot = key.split(".", 2)
            state.setdefault(int(idx), {})[slot] = value
    opt.load_state_dict({"state": state, "param_groups": meta.pop("param_groups")})
    gen.set_state(tensors["rng"])
    return meta


def _where(args: argparse.Namespace, world: int) -> str:
    if args.where:
        return args.where
    device = "GPU" if args.device.startswith("cuda") else "CPU"
    threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
    procs = f"{world} processes x {threads}" if world > 1 else threads
    return f"{device}, {procs}, this {os.cpu_count()}-core machine"


def _checksum(model: nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def train_image(args: argparse.Namespace) -> int:
    """``train-image``: train, early-stop on validation, save the best flow with its model card."""
    torch.set_num_threads(args.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    device = torch.device(args.device)
    if distributed:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    out = Path(args.out)
    state_dir = out / STATE_DIR
    try:
        data = load_image_data(args.data)
        config = _flow_config(args, data)
    except ValueError as exc:
        _log(f"train-image: {exc}")
        return 2

    # Every random draw has its own explicit generator; torch's process-wide one is never seeded or read.
    flow = ImageRealNVP(config, seed=args.seed).to(device)  # identical initial weights on every rank
    train = torch.as_tensor(data.train)
    train_labels = torch.as_tensor(data.train_labels) if config.n_classes else None
    val_labels = data.val_labels if config.n_classes else None
    gen = torch.Generator().manual_seed(args.seed + 1000 * rank)  # each rank its own batches and noise
    # dequantisation noise and dropout masks are drawn where the model runs: on a GPU from a generator there
    noise_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(args.seed + 1000 * rank)
    flow.set_dropout_generator(noise_gen)
    opt = torch.optim.AdamW(flow.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    ema = copy.deepcopy(flow).requires_grad_(False) if args.ema > 0 else flow  # what is evaluated and saved

    start_step, best_val, best_step, bad_evals, elapsed = 0, math.inf, 0, 0, 0.0
    history: list[dict] = []
    if args.resume and (state_dir / "state.json").is_file():
        meta = _load_state(state_dir, flow, ema, opt, gen)
        if rank:
            gen.manual_seed(args.seed + 1000 * rank + meta["step"])
        if noise_gen is not gen:
            noise_gen.manual_seed(args.seed + 1000 * rank + meta["step"])
        start_step, best_val, best_step = meta["step"], meta["best_val"], meta["best_step"]
        bad_evals, elapsed, history = meta["bad_evals"], meta["elapsed"], meta["history"]
        if rank == 0:
            _log(f"resumed from {state_dir} at step {start_step} (best val {best_val:.4f} at {best_step})")
    else:
        if args.resume and rank == 0:
            _log(f"no training state in {state_dir}: starting from scratch")
        init_idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed))[:512]
        init_labels = None if train_labels is None else train_labels[init_idx].to(device)
        flow.initialize(train[init_idx].to(device), torch.Generator(device=device).manual_seed(args.seed), init_labels)
        if ema is not flow:
            ema.load_state_dict(flow.state_dict())

    objective: nn.Module = _Objective(flow)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        objective = DistributedDataParallel(
            objective, device_ids=[device] if device.type == "cuda" else None, forward_sync_buffers=False
        )
    if rank == 0:
        n_params = sum(p.numel() for p in flow.parameters())
        _log(
            f"train-image {args.data}: {n_params:,} parameters, {len(train)} train / {len(data.val)} val, "
            f"{world} process(es){' (DDP, ' + dist.get_backend() + ')' if distributed else ''} x batch {args.batch_size}, "
            f"{args.steps} steps"
        )

    def evaluate_and_decide(step: int, train_bpd: float) -> bool:
        """Rank 0: validation, best-model saving, early stopping. Returns True to stop."""
        nonlocal best_val, best_step, bad_evals
        val = dataset_bits_per_dim(ema, data.val, seed=EVAL_SEED, labels=val_labels)
        improved = val < best_val - 1e-4
        if improved:
            best_val, best_step, bad_evals = val, step, 0
            save_flow(out, ema, dataset=args.data)
        else:
            bad_evals += 1
        history.append({"step": step, "train_bpd": round(train_bpd, 5), "val_bpd": round(val, 5)})
        _log(
            f"step {step:6d}/{args.steps}  train {train_bpd:.4f}  val {val:.4f}"
            f"{'  *best*' if improved else ''}"
            f"  lr {opt.param_groups[0]['lr']:.2e}  {elapsed / 60:.2f} min"
        )
        return bad_evals >= args.patience

    t0 = time.perf_counter() - elapsed
    step, running, running_n, skipped = start_step, 0.0, 0, 0
    stop_flag = torch.zeros(1, device=device)
    flow.train()
    while step < args.steps:
        for group in opt.param_groups:
            group["lr"] = args.lr * _lr_factor(step, args.steps, args.warmup)
        idx = torch.randint(len(train), (args.batch_size,), generator=gen)
        batch = augment(train[idx], gen, shift=args.shift, flip=args.flip).to(device)
        batch_labels = None if train_labels is None else train_labels[idx].to(device)
        loss = objective(batch, noise_gen, batch_labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(flow.parameters(), args.grad_clip)
        if torch.isfinite(norm):  # the averaged gradient: every rank takes the same branch
            opt.step()
            if ema is not flow:
                decay = min(args.ema, (1 + step) / (10 + step))
                with torch.no_grad():
                    for e, p in zip(ema.parameters(), flow.parameters(), strict=True):
                        e.lerp_(p, 1.0 - decay)
            running, running_n = running + loss.item(), running_n + 1
        else:
            skipped += 1
        step += 1
        elapsed = time.perf_counter() - t0
        stop = False
        if rank == 0:
            if step % args.eval_every == 0 or step == args.steps:
                stop = evaluate_and_decide(step, running / max(1, running_n))
                running, running_n = 0.0, 0
                meta = _meta(step, best_val, best_step, bad_evals, elapsed, history)
                _save_state(state_dir, flow, ema, opt, gen, meta)
            if args.minutes is not None and elapsed >= 60 * args.minutes:
                _log(f"time budget of {args.minutes} min reached at step {step}")
                stop = True
            if skipped > 50:
                _log("more than 50 non-finite steps: stopping")
                stop = True
        if distributed:
            stop_flag.fill_(float(stop))
            dist.broadcast(stop_flag, src=0)
            stop = bool(stop_flag.item())
        if stop:
            break

    if args.checksum_dir:
        Path(args.checksum_dir).mkdir(parents=True, exist_ok=True)
        Path(args.checksum_dir, f"rank{rank}.json").write_text(
            json.dumps({"rank": rank, "step": step, "checksum": _checksum(flow)})
        )
    if rank == 0:
        if best_step == 0 or (step % args.eval_every and step != args.steps):
            evaluate_and_decide(step, running / max(1, running_n))
        _finish(args, data, out, step, elapsed, world, history, best_step)
        if not args.keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()
    return 0


def _meta(step: int, best_val: float, best_step: int, bad_evals: int, elapsed: float, history: list) -> dict:
    return {
        "step": step,
        "best_val": best_val,
        "best_step": best_step,
        "bad_evals": bad_evals,
        "elapsed": elapsed,
        "history": history,
    }


def _finish(args, data, out: Path, step: int, elapsed: float, world: int, history: list, best_step: int) -> None:
    """Reload the best weights, measure val and test bits/dim, write the card and held-out images."""
    best = _load_best(out)
    conditional = best.config.n_classes > 0
    val_labels, test_labels = (data.val_labels, data.test_labels) if conditional else (None, None)
    val = dataset_bits_per_dim(best, data.val, seed=EVAL_SEED, labels=val_labels)
    test = dataset_bits_per_dim(best, data.test, seed=EVAL_SEED, labels=test_labels)
    k = data.n_levels
    # the categorical baseline is fitted on every non-test image (patches: the 92,820 train crops)
    pooled = args.data != "patches"
    pool = np.concatenate([data.train, data.val]) if pooled else data.train
    baselines = baseline_bits_per_dim(pool, data.test, k)
    command = "python -m realnvp " + shlex.join(sys.argv[1:])
    if world > 1:
        command = f"torchrun --nproc_per_node={world} -m realnvp " + shlex.join(sys.argv[1:])
    card = {
        "name": out.name,
        "dataset": args.data,
        "data": data.source,
        "license": data.license,
        "split": data.split,
        "dequantization": f"x = (level + u) / {k}, u ~ "
        + ("U[0,1)" if args.dequant == "uniform" else "q(u | level) (learned)"),
        "bits_per_dim": (
            f"-log2 P(level) per dimension with log P ~= log p(x) - log q(u) + D log(1/{k}) "
            f"(density on [0,1)^D, bins 1/{k}); one dequantisation draw, seed {EVAL_SEED}"
        ),
        "test_bpd": round(test, 4),
        "val_bpd": round(val, 4),
        "n_test": len(data.test),
        "n_val": len(data.val),
        "n_train": len(data.train),
        "baselines_test_bpd": {
            "uniform over levels": round(baselines["uniform"], 4),
            f"independent per-pixel categorical (fit on {'train+val' if pooled else 'train'}, +0.5 smoothing)": round(
                baselines["categorical"], 4
            ),
        },
        "command": command,
        "steps": step,
        "best_step": best_step,
        "minutes": round(elapsed / 60, 2),
        "trained_on": _where(args, world),
        "seed": args.seed,
        "torch": torch.__version__,
        "history": history,
    }
    if conditional:
        scores = class_bits_per_dim(best, data.test, seed=EVAL_SEED)
        card["conditioning"] = (
            f"class-conditional: the one-hot label ({best.config.n_classes} classes) is an input of every "
            "coupling's conditioner; base N(0, I). test_bpd and val_bpd are -log2 P(image | its label) per dim"
        )
        card["test_bpd_marginal"] = round(float(marginal_bits_per_dim(scores, best.config.dim).mean()), 4)
        card["test_bpd_marginal_means"] = "label unknown: the ten class densities as a uniform mixture"
        card["bayes_accuracy_test"] = round(float((scores.argmin(1) == data.test_labels).mean()), 4)
    if args.data == "mnist":
        card["published_full_mnist_bpd"] = PUBLISHED_BPD["mnist"]
        card["caveat"] = (
            "Published numbers use all 60,000 MNIST training images and GPU-days of training; this flow saw "
            f"{len(data.train)} images for {elapsed / 60:.0f} CPU minutes. They set the scale, not a contest."
        )
    shown = heldout_indices(len(data.test))
    save_flow(
        out,
        best,
        dataset=args.data,
        card=card,
        heldout=np.ascontiguousarray(data.test[shown]),
        heldout_labels=data.test_labels[shown] if conditional else None,
    )
    _log(f"done: best step {best_step}, val {val:.4f}, test {test:.4f} bits/dim -> {out}")


def _load_best(folder: Path) -> ImageRealNVP:
    """The best weights written during training (no card yet, so no checksum to verify against)."""
    config = json.loads((folder / "config.json").read_text())
    model = ImageRealNVP(ImageFlowConfig.from_dict(config["flow"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval()


if __name__ == "__main__":
    sys.exit(main())
