"""Train the shipped 2-D flows with the project's CLI, one at a time on one thread, and write their model cards.

    python assets/flows2d/make.py [--only moons spirals]

Each scene dataset of the Playground's presets gets a folder ``assets/flows2d/<name>/`` with the CLI's
``model.safetensors`` + ``config.json`` (the weights stored as float16 to halve the file; they load into a float32
flow) and ``card.json``: the data, the exact command, the held-out NLL of the shipped weights (and of the float32
weights the CLI trained), the true entropy, the gap, steps, seconds and file size. The Layer-by-layer page opens on
one of these when the session has no model of its own (``playground.views.layers.load_pretrained``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: import realnvp from this checkout

# name -> (preset it matches, CLI arguments): each preset's own data and architecture, cosine-decayed Adam.
FLOWS: dict[str, tuple[str, list[str]]] = {
    "moons": (
        "moons",
        "--dataset moons --noise 0.1 --n-points 5000 --n-layers 8 --hidden-dims 64 64 --batch-size 512 "
        "--lr 5e-3 --schedule cosine --steps 2000 --seed 0".split(),
    ),
    "spirals": (
        "spirals",
        "--dataset spirals --noise 0.05 --n-points 5000 --n-layers 12 --hidden-dims 128 128 --batch-size 512 "
        "--lr 3e-3 --schedule cosine --steps 4000 --seed 0".split(),
    ),
    "checkerboard": (
        "checkerboard",
        "--dataset checkerboard --noise 0.05 --n-points 5000 --n-layers 12 --hidden-dims 128 128 --batch-size 512 "
        "--lr 3e-3 --schedule cosine --steps 3000 --seed 0".split(),
    ),
    "8gaussians": (
        "8gaussians",
        "--dataset 8gaussians --noise 0.15 --n-points 5000 --n-layers 10 --hidden-dims 64 64 --batch-size 512 "
        "--lr 2e-3 --schedule cosine --steps 3000 --seed 0".split(),
    ),
}


def _arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def build(name: str) -> dict:
    import torch

    from realnvp.checkpoint import load_flow, save_flow, standardizer_from_meta
    from realnvp.training import Trainer

    preset, args = FLOWS[name]
    out = HERE / name
    cli = ["python", "-m", "realnvp", "train-2d", *args, "--threads", "1", "--out", f"assets/flows2d/{name}", "--json"]
    print(" ".join(cli), flush=True)
    done = subprocess.run([sys.executable, *cli[1:]], cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])

    # Store the weights as float16 (the same file format; they load into a float32 flow) and score those.
    torch.set_num_threads(1)
    model, meta = load_flow(out)
    save_flow(out, model.half(), standardizer=standardizer_from_meta(meta), extra=meta.get("extra"))
    shipped, _ = load_flow(out)
    data = {
        "dataset": _arg(args, "--dataset"),
        "noise": float(_arg(args, "--noise")),
        "n_points": int(_arg(args, "--n-points")),
        "heldout_points": 5000,
        "seed": int(_arg(args, "--seed")),
    }
    trainer = Trainer.for_dataset(
        data["dataset"], noise=data["noise"], n_points=data["n_points"], seed=data["seed"], flow=shipped.config
    )
    trainer.model.load_state_dict(shipped.state_dict())
    heldout = trainer.evaluate(record=False)
    weights = (out / "model.safetensors").read_bytes()
    card = {
        "name": name,
        "preset": preset,
        "data": data,
        "generator": "realnvp.datasets.make_points (train: seed; held-out: seed + 1000003, as Trainer.for_dataset)",
        "command": " ".join(cli),
        "flow": shipped.config.to_dict(),
        "parameters": sum(p.numel() for p in shipped.parameters()),
        "weights_dtype": "float16 (loaded into float32)",
        "heldout_nll": round(heldout, 6),
        "heldout_nll_float32": round(result["test_nll"], 6),
        "entropy": result["entropy"],
        "gap": round(heldout - result["entropy"], 6),
        "steps": result["steps"],
        "seconds": round(result["seconds"], 1),
        "steps_per_s": round(result["steps_per_s"], 1),
        "guard_events": result["events"],
        "size_bytes": len(weights),
        "sha256": hashlib.sha256(weights).hexdigest(),
        "trained_on": f"CPU, 1 thread ({platform.machine()}), a shared 2-core machine",
        "torch": torch.__version__,
        "units": "nats, in the data's original units",
    }
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({k: card[k] for k in ("name", "heldout_nll", "gap", "steps", "seconds", "size_bytes")}))
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(FLOWS), default=list(FLOWS))
    args = parser.parse_args(argv)
    for name in args.only:
        build(name)


if __name__ == "__main__":
    main()
