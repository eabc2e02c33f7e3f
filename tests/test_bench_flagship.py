"""benchmarks/bench_flagship.py: its worker checks before it times, and the driver refuses trees
whose metrics differ (the change it measures must be exact)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import bench_flagship, flagship_worker


def test_worker_checks_then_times_and_prints_its_metrics_digest(capsys) -> None:
    flagship_worker.main("static", 2_000, 8, 1)
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["worst_vs_dense"] < 1.0 and record["worst_vs_numpy"] < 1.0
    assert len(record["generation"]) == 1 and len(record["engine"]) == 1
    assert len(record["metrics_sha256"]) == 64
    assert record["fused"] is True  # the engine timed is the fused kernel


def test_driver_refuses_trees_whose_metrics_differ(monkeypatch, tmp_path: Path) -> None:
    def fake_worker(tree: Path, margin: str, *args: int) -> dict:
        digest = "a" * 64 if tree.resolve() == tmp_path.resolve() else "b" * 64
        return {
            "generation": [(1.0, 1.0)],
            "engine": [(2.0, 2.0)],
            "metrics_sha256": digest,
            "worst_vs_dense": 0.0,
            "worst_vs_numpy": 0.0,
        }

    monkeypatch.setattr(bench_flagship, "run_worker", fake_worker)
    monkeypatch.setattr(
        sys, "argv", ["bench_flagship.py", "--before", str(tmp_path), "--rounds", "1"]
    )
    with pytest.raises(SystemExit, match="metrics differ"):
        bench_flagship.main()
