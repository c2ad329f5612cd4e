"""Steps/s of each contestant in a 2- and a 4-contestant race, against the same configuration training alone.

Checkerboard (noise 0.05, 10,000 points), 1 torch thread. Alone: a :class:`~realnvp.training.Trainer` stepping for
``--seconds``. In a race: :class:`~playground.serving.race.Race` rounds (deficit round-robin turns of equal training
time) for ``--seconds`` per contestant. Reports each contestant's own speed (steps per second of its own turns), its
wall-clock speed (steps per second of the whole race) and its share of the race's training time. The app's worker
also evaluates the held-out NLL and draws density grids; those costs are not in these numbers.

    python -m bench.race_share --seconds 4 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from playground.serving.race import Race
from playground.settings import Settings
from playground.views.race import RaceConfig
from realnvp.training import Trainer

DATA = dict(dataset="checkerboard", noise=0.05, n_points=10_000, seed=0)
AFFINE = Settings(lr=3e-3, batch_size=256)
SPLINE = Settings(coupling="spline", n_layers=6, lr=3e-3, batch_size=256)
ADDITIVE = Settings(coupling="additive", lr=3e-3, batch_size=256)
SHALLOW = Settings(n_layers=2, lr=3e-3, batch_size=256)


def alone(settings: Settings, seconds: float) -> float:
    trainer = Trainer.for_dataset(
        DATA["dataset"], noise=DATA["noise"], n_points=DATA["n_points"], seed=0,
        flow=settings.flow_config(), optim=settings.optim_config(), heldout_points=1000,
    )  # fmt: skip
    trainer.step(20)  # warm up (plans the hand-written gradient)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        steps += trainer.step(10)
    return steps / (time.perf_counter() - start)


def race(contestants: tuple[Settings, ...], seconds: float) -> list[dict]:
    r = Race(RaceConfig(**DATA, contestants=contestants), heldout_points=1000)
    r.step(3)  # warm up and measure every contestant's step time
    before = [(t.step_count, lane.seconds) for t, lane in zip(r.trainers, r.lanes, strict=True)]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds * len(contestants):
        r.step(1)
    wall = time.perf_counter() - start
    out = []
    total = sum(lane.seconds - s0 for lane, (_, s0) in zip(r.lanes, before, strict=True))
    for label, t, lane, (n0, s0) in zip(r.labels, r.trainers, r.lanes, before, strict=True):
        steps, own = t.step_count - n0, lane.seconds - s0
        out.append(dict(label=label, own=steps / own, wall=steps / wall, share=own / total))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per contestant (and per solo run)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (solo, 2-race, 4-race)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    kinds = {"affine": AFFINE, "spline": SPLINE, "additive": ADDITIVE, "shallow": SHALLOW}
    races = (("2", ("affine", "spline")), ("4", ("affine", "spline", "additive", "shallow")))
    rows: dict[tuple[str, int], list[dict]] = {}
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load hits solo and race runs alike
        solo = {kind: alone(settings, args.seconds) for kind, settings in kinds.items()}
        for name, members in races:
            for i, row in enumerate(race(tuple(kinds[k] for k in members), args.seconds)):
                rows.setdefault((name, i), []).append({**row, "alone": solo[members[i]]})
    print(f"medians over {args.repeats} interleaved repeats, {args.seconds:g} s per contestant\n")
    print("| race | contestant | alone steps/s | own steps/s in the race | ratio | wall-clock steps/s | CPU share |")
    print("|---|---|---|---|---|---|---|")
    for (name, _), runs in rows.items():

        def med(key, runs=runs):
            return statistics.median(r[key] for r in runs)

        ratio = statistics.median(r["own"] / r["alone"] for r in runs)
        print(
            f"| {name} | {runs[0]['label']} | {med('alone'):.0f} | {med('own'):.0f} | {ratio:.2f} | "
            f"{med('wall'):.0f} | {med('share'):.0%} |"
        )


if __name__ == "__main__":
    main()
