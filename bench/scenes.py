"""Every scene of the shipped talk script against its promise, for several seeds (the numbers behind the captions).

    python -m bench.scenes [--seeds 10] [--scenes moons,additive]

Prints one JSON line per (scene, seed) and a summary line per scene: kept/total and the worst measured value.
Runs on one thread, the way the app trains a session.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from playground.scenes import TALK_SCRIPT, check_promise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--scenes", default=",".join(s.key for s in TALK_SCRIPT))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    wanted = args.scenes.split(",")
    for scene in (s for s in TALK_SCRIPT if s.key in wanted):
        results = []
        for seed in range(args.seeds):
            started = time.perf_counter()
            result = check_promise(scene, seed)
            result["seconds"] = round(time.perf_counter() - started, 1)
            result["events"] = len(result.get("events", []))
            results.append(result)
            print(json.dumps({"scene": scene.key, "seed": seed, **result}), flush=True)
        gaps = [r["gap"] for r in results if "gap" in r]
        summary = {
            "scene": scene.key,
            "promise": scene.promise.text(),
            "kept": sum(r["kept"] for r in results),
            "seeds": len(results),
        }
        if gaps:
            summary.update(gap_min=min(gaps), gap_max=max(gaps))
        firsts = [r["first_blowup_step"] for r in results if r.get("first_blowup_step")]
        if firsts:
            summary.update(first_blowup_min=min(firsts), first_blowup_max=max(firsts))
        print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
