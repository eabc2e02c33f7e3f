"""The flagship case's kernel, before and after, measured alternately (issue 19).

    python benchmarks/bench_flagship.py --before DIR [--rounds 2] [--runs 3]
        [--paths 100000] [--positions 1000000] [--threads 2,1] [--records]

1M positions x 100k GBM paths x 720 steps (benchmarks/engine_cases.py's book and
paths), static and vol_scaled margin. For each round, each thread count, each
margin, the two trees (``DIR``, a worktree of the commit before, and this one)
run :mod:`benchmarks.flagship_worker` one after the other, the first tree
alternating between rounds. Each worker checks the engine against the dense twin
and the numpy reference before it times (exit 1 on a mismatch), then times GBM
generation alone and generation + replay ``RUNS`` times each; here the two trees'
metric matrices must have the same SHA-256 (the change is exact). Prints a
markdown table of medians (wall and CPU seconds, all threads), the load, and
whether each tree fuses GBM generation with the replay (issue 19: then the
engine column times the fused kernel, which is what runs; the generation column
still times ``gbm_paths`` alone, the floor of the unfused engine). With ``--records``
the engine also writes the per-step records a ``stresstest run`` writes (its grid
steps), and the SHA-256 compared covers them too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "benchmarks" / "flagship_worker.py"


def run_worker(
    tree: Path, margin: str, positions: int, paths: int, runs: int, threads: int, records: bool
) -> dict:
    """One worker run in ``tree``; its JSON line."""
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_NUM_THREADS=str(threads))
    mode = ["records"] if records else []
    done = subprocess.run(
        [sys.executable, str(WORKER), margin, str(positions), str(paths), str(runs), *mode],
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"worker failed in {tree} ({margin}, {threads} threads):\n{done.stderr}")
    record: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--paths", type=int, default=100_000)
    parser.add_argument("--positions", type=int, default=1_000_000)
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--records", action="store_true")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": REPO}
    thread_counts = [int(value) for value in args.threads.split(",")]
    load_start = os.getloadavg()
    results: dict[tuple[str, int, str], dict] = {}
    for round_index in range(args.rounds):
        order = ["before", "after"] if round_index % 2 == 0 else ["after", "before"]
        for threads in thread_counts:
            for margin in ("static", "vol_scaled"):
                for side in order:
                    record = run_worker(
                        trees[side],
                        margin,
                        args.positions,
                        args.paths,
                        args.runs,
                        threads,
                        args.records,
                    )
                    key = (side, threads, margin)
                    if key in results:
                        results[key]["generation"] += record["generation"]
                        results[key]["engine"] += record["engine"]
                        if results[key]["metrics_sha256"] != record["metrics_sha256"]:
                            sys.exit(f"{key}: metrics differ between rounds")
                    else:
                        results[key] = record
                    print(f"round {round_index + 1} {side} {threads}t {margin} done", flush=True)
    for threads in thread_counts:
        for margin in ("static", "vol_scaled"):
            before = results[("before", threads, margin)]["metrics_sha256"]
            after = results[("after", threads, margin)]["metrics_sha256"]
            if before != after:
                sys.exit(f"{margin}, {threads} threads: the trees' metrics differ")
    load_end = os.getloadavg()

    def median(values: list, index: int) -> float:
        return statistics.median(value[index] for value in values)

    print()
    print(f"Load average (1 min) at the start / end: {load_start[0]:.2f} / {load_end[0]:.2f}")
    grid_steps = {record.get("grid_steps", 0) for record in results.values()}
    print(f"Per-step records at {grid_steps} grid steps (0: none)")
    print()
    print(
        "| threads | margin | tree | generation wall s | generation CPU s "
        "| engine wall s | engine wall s, slowest run | engine CPU s "
        "| replay CPU s (engine - generation) | replay CPU us / path |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for threads in thread_counts:
        for margin in ("static", "vol_scaled"):
            for side in ("before", "after"):
                record = results[(side, threads, margin)]
                gen_wall = median(record["generation"], 0)
                gen_cpu = median(record["generation"], 1)
                eng_wall = median(record["engine"], 0)
                eng_slowest = max(value[0] for value in record["engine"])
                eng_cpu = median(record["engine"], 1)
                replay_cpu = eng_cpu - gen_cpu
                print(
                    f"| {threads} | {margin} | {side} | {gen_wall:.2f} | {gen_cpu:.2f} "
                    f"| {eng_wall:.2f} | {eng_slowest:.2f} | {eng_cpu:.2f} | {replay_cpu:.2f} "
                    f"| {replay_cpu / args.paths * 1e6:.1f} |"
                )
    print()
    for side in ("before", "after"):
        fused = {record.get("fused", False) for key, record in results.items() if key[0] == side}
        print(f"{side}: generation fused with the replay (engine.plan.fuses_generation): {fused}")
    for threads in thread_counts:
        for margin in ("static", "vol_scaled"):
            print(
                f"{margin}, {threads} thread(s): metrics SHA-256 "
                f"{results[('after', threads, margin)]['metrics_sha256'][:16]} in both trees; "
                f"worst parity error / allowed "
                f"{results[('after', threads, margin)]['worst_vs_dense']:.2g} (dense), "
                f"{results[('after', threads, margin)]['worst_vs_numpy']:.2g} (numpy)"
            )


if __name__ == "__main__":
    main()
