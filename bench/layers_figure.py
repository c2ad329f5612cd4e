"""Time the "Layer by layer" page's animation: frames, figure build and JSON serialisation.

    python -m bench.layers_figure [--points 2000] [--layers 8] [--between 4] [--repeat 5]

Prints the median of each step in milliseconds and the figure's size. The budget for `build_animation_figure` with
2,000 points, 8 layers and 4 in-between frames is 0.5 s on one CPU thread per direction. The page sends the two-way
figure (both directions, switched in the browser; built once per model and settings, see the last line); what a
switch costs in Chromium is measured by ``python -m bench.layers_browser``. Not part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from playground.plots.layers import build_animation_figure
from playground.views.layers import animation_frames, latent_samples, likelihood_breakdown
from realnvp import RealNVP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--between", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)

    flow = RealNVP(2, n_layers=args.layers, seed=0)
    with torch.no_grad():  # move it away from the identity so the frames are not trivial
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    data = np.random.default_rng(0).normal(size=(args.points, 2))
    z = latent_samples(args.points, 2, seed=0)
    build_animation_figure(animation_frames(flow, data, "forward", args.between))  # warm-up

    for direction, start in (("forward", data), ("inverse", z)):
        t_frames, t_fig, t_json, size = [], [], [], 0
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            anim = animation_frames(flow, start, direction, args.between)
            t1 = time.perf_counter()
            fig = build_animation_figure(anim)
            t2 = time.perf_counter()
            size = len(fig.to_json())
            t3 = time.perf_counter()
            t_frames.append(t1 - t0)
            t_fig.append(t2 - t1)
            t_json.append(t3 - t2)
        ms = {k: 1000 * statistics.median(v) for k, v in (("frames", t_frames), ("figure", t_fig), ("json", t_json))}
        print(
            f"{direction:8s} {args.points} points × {args.layers} layers × {args.between} between "
            f"({len(fig.frames)} frames): animation_frames {ms['frames']:.0f} ms · "
            f"build_animation_figure {ms['figure']:.0f} ms (budget 500) · to_json {ms['json']:.0f} ms · "
            f"{size / 1e6:.2f} MB"
        )

    t_two, size = [], 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        both = build_animation_figure(
            animation_frames(flow, data, "forward", args.between),
            other=animation_frames(flow, z, "inverse", args.between),
        )
        t_two.append(time.perf_counter() - t0)
        size = len(both.to_json())
    print(
        f"two-way  frames + figure, both directions ({len(both.frames)} frames): "
        f"{1000 * statistics.median(t_two):.0f} ms · {size / 1e6:.2f} MB"
    )

    worst = 0.0
    for point in data[:200]:
        b = likelihood_breakdown(flow, None, point)
        worst = max(worst, abs(b.total - b.model_log_prob))
    print(f"likelihood breakdown vs log_prob, 200 points: max |difference| = {worst:.1e} nats")


if __name__ == "__main__":
    main()
