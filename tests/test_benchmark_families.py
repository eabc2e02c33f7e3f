"""Every benchmark family's verification can fail, and the shared harness does what it says.

Each family (benchmarks/bench_*.py) checks its kernels against a twin or a
reference before it times anything. Here each check is shown to reject a
perturbed output on a tiny case (the engine family's own tests are in
tests/test_benchmark_harness.py), and the harness's pieces (comparison,
section writing, tables, the command line) are checked directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as entry
from benchmarks import bench_accounts, bench_adl, bench_defences, bench_mechanics, bench_paths
from benchmarks.harness import cli, markdown, parity
from benchmarks.harness.parity import ParityError
from stresstest.kernels import enums

# ----------------------------------------------------------------------------- harness


def test_compare_rejects_a_perturbation_beyond_its_named_tolerance() -> None:
    expected = np.full((2, 14), 1e6)
    notional = 1e9  # atol = PARITY_ATOL_PER_NOTIONAL x 1e9 = 1 quote unit
    within = expected.copy()
    within[0, 2] += 0.5
    assert 0.0 < parity.compare(within, expected, notional=notional, what="within") < 1.0
    outside = expected.copy()
    outside[1, 2] += 2.5
    with pytest.raises(ParityError, match="bad_debt"):
        parity.compare(outside, expected, notional=notional, what="outside")


def test_compare_counts_exactly_where_the_tolerance_says_so() -> None:
    expected = np.full((1, 14), 10.0)
    off_by_a_hair = expected.copy()
    off_by_a_hair[0, enums.CASCADE_DEPTH] += 1e-6  # well inside the quote-unit floor
    parity.compare(off_by_a_hair, expected, notional=1e9, what="uniform")
    with pytest.raises(ParityError, match="cascade_depth"):
        parity.compare(
            off_by_a_hair, expected, notional=1e9, what="exact", tolerance=parity.MECHANICS
        )


def test_compare_rejects_nan_and_shape_mismatch() -> None:
    expected = np.ones((2, 12))
    with_nan = expected.copy()
    with_nan[1, 5] = np.nan
    with pytest.raises(ParityError, match="fund_end"):
        parity.compare(with_nan, expected, notional=1.0, what="nan")
    with pytest.raises(ParityError, match="shape"):
        parity.compare(expected[:1], expected, notional=1.0, what="shape")


def test_write_sections_replaces_only_the_named_sections(tmp_path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        "# Performance\n\nheader\n\n<!-- a:begin -->\nold a\n<!-- a:end -->\n\n"
        "<!-- b:begin -->\nold b\n<!-- b:end -->\n\nfooter\n",
        encoding="utf-8",
    )
    markdown.write_sections({"b": "new b"}, doc)
    markdown.write_sections({"c": "new c"}, doc)
    assert doc.read_text(encoding="utf-8") == (
        "# Performance\n\nheader\n\n<!-- a:begin -->\nold a\n<!-- a:end -->\n\n"
        "<!-- b:begin -->\nnew b\n<!-- b:end -->\n\nfooter\n\n"
        "<!-- c:begin -->\nnew c\n<!-- c:end -->\n"
    )
    assert [path.name for path in tmp_path.iterdir()] == ["performance.md"]


def test_table_renders_alignment_and_rejects_ragged_rows() -> None:
    assert markdown.table([("a", "l"), ("b", "r")], [["1", "2"]]) == [
        "| a | b |",
        "|---|---:|",
        "| 1 | 2 |",
    ]
    with pytest.raises(ValueError, match="2 columns"):
        markdown.table([("a", "l"), ("b", "r")], [["1"]])


def test_smoke_cannot_write(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.parse(bench_paths.FAMILY, ["--smoke", "--write"])
    assert exit_.value.code == 2
    assert "--smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        entry.run_all(["--smoke", "--write"])
    assert exit_.value.code == 2


def test_every_family_is_reachable_from_the_entry_point() -> None:
    assert list(entry.FAMILIES) == [
        "engine",
        "memory",
        "startup",
        "paths",
        "defences",
        "adl",
        "every_stage",
        "mechanics",
        "accounts",
        "match",
    ]
    assert all(family.section == name for name, family in entry.FAMILIES.items())
    assert entry.main(["nonsense"]) == 2


# ----------------------------------------------------------------------------- families


def test_paths_verification_rejects_a_perturbed_generator() -> None:
    case = bench_paths.gbm_case()
    verified = bench_paths.verify(case)
    assert verified.shape == (bench_paths.VERIFY_PATHS, bench_paths.VERIFY_STEPS + 1)

    def nudged(first: int, out: np.ndarray) -> None:
        case.run(first, out)
        out[3, 200] = np.nextafter(out[3, 200], np.inf)  # one ulp on one price

    with pytest.raises(ParityError, match="GBM"):
        bench_paths.verify(bench_paths.Case(case.name, nudged, case.twin))


def test_defences_parity_rejects_a_perturbed_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    prices, book = bench_defences.inputs(2_000, 3, 100)
    assert "partial" in bench_defences.check_parity(prices, book)
    original = bench_defences.adl

    def adl_off(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.ADL_NOTIONAL] *= 1.0 + 1e-6
        return out

    def market_columns_unset(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.CASCADE_DEPTH : enums.IMPACT_BAD_DEBT + 1] = 5e7  # what np.empty may hold
        return out

    monkeypatch.setattr(bench_defences, "adl", market_columns_unset)
    bench_defences.check_parity(prices, book)  # the ADL kernel does not write those columns
    monkeypatch.setattr(bench_defences, "adl", adl_off)
    with pytest.raises(ParityError, match="adl"):
        bench_defences.check_parity(prices, book)


def test_adl_parity_rejects_a_perturbed_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    prices, book = bench_defences.inputs(2_000, 3, 100)
    assert "deleveraged" in bench_adl.check_parity(prices, book)
    original = bench_adl.adl

    def adl_off(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.ADL_COUNT] += 1.0
        return out

    monkeypatch.setattr(bench_adl, "adl", adl_off)
    with pytest.raises(ParityError, match="adl"):
        bench_adl.check_parity(prices, book)


def test_accounts_parity_rejects_a_perturbed_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    original = bench_accounts.replay_accounts_chunk

    def one_liquidation_too_many(plan, first, count):
        rows, rest = original(plan, first, count)
        rows = rows.copy()
        rows[0, enums.N_LIQUIDATIONS] += 1.0
        return rows, rest

    monkeypatch.setattr(bench_accounts, "replay_accounts_chunk", one_liquidation_too_many)
    with pytest.raises(ParityError, match="dense twin"):
        bench_accounts.run_case(500, 4, "cross", n_steps=50)


def test_mechanics_parity_rejects_a_wrong_cascade_depth(monkeypatch: pytest.MonkeyPatch) -> None:
    original = bench_mechanics.replay_all

    def deeper(*args, **kwargs):
        out = original(*args, **kwargs)
        out[:, enums.CASCADE_DEPTH] += 1.0
        return out

    monkeypatch.setattr(bench_mechanics, "replay_all", deeper)
    with pytest.raises(ParityError, match="cascade_depth"):
        bench_mechanics.check_parity(bench_mechanics.Size(2_000, 2, 100))


def test_quantile_benchmark_times_only_after_parity(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--smoke`` passes; a kernel one ulp off numpy fails before anything is timed."""
    from benchmarks import bench_quantiles
    from stresstest.kernels import quantiles

    assert bench_quantiles.main(["--smoke"]) == 0
    assert "parity:" in capsys.readouterr().out
    original = quantiles.column_quantiles

    def one_ulp_high(values: np.ndarray, levels: np.ndarray) -> np.ndarray:
        return np.nextafter(original(values, levels), np.inf)

    monkeypatch.setattr(quantiles, "column_quantiles", one_ulp_high)
    assert bench_quantiles.main(["--smoke"]) == 1
    assert "| method |" not in capsys.readouterr().out


# ----------------------------------------------------------------------------- match


def test_match_benchmark_checks_each_match_and_can_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benchmarks import bench_match
    from stresstest.comparison import engine
    from tests.test_compare import BASE, COMPARE

    scenario_file = tmp_path / "compare.toml"
    scenario_file.write_text(BASE + COMPARE)
    [line] = bench_match.check(scenario_file)
    assert line.startswith("vol_k1: static ")
    real = engine.compare

    def off_by_a_hair(*args: object, **kwargs: object) -> engine.Comparison:
        comparison = real(*args, **kwargs)
        [found] = comparison.matches
        assert found.achieved is not None
        moved = dataclasses.replace(found, achieved=found.achieved * (1.0 + 1e-15))
        return dataclasses.replace(comparison, matches=(moved,))

    monkeypatch.setattr(engine, "compare", off_by_a_hair)
    with pytest.raises(ParityError, match="direct cost"):
        bench_match.check(scenario_file)


def test_match_benchmark_refuses_different_outputs(tmp_path: Path) -> None:
    from benchmarks import bench_match

    for name in ("a", "b"):
        (tmp_path / name / "variants" / "x").mkdir(parents=True)
        (tmp_path / name / "compare.json").write_text("{}")
        (tmp_path / name / "variants" / "x" / "paths.parquet").write_bytes(b"1")
    assert bench_match.same_outputs(tmp_path / "a", tmp_path / "b") == 2
    (tmp_path / "b" / "scenario.resolved.toml").write_text("names the tree's files")
    assert bench_match.same_outputs(tmp_path / "a", tmp_path / "b") == 2
    (tmp_path / "b" / "variants" / "x" / "paths.parquet").write_bytes(b"2")
    with pytest.raises(ParityError, match=r"paths\.parquet differs"):
        bench_match.same_outputs(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "variants" / "x" / "extra.json").write_text("{}")
    with pytest.raises(ParityError, match="different files"):
        bench_match.same_outputs(tmp_path / "a", tmp_path / "b")


def test_match_benchmark_reference_run_catches_a_kernel_off_by_an_ulp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes check against a run whose searches replay every design: equal as
    shipped; a requirement-only mode whose costs are one ulp off moves a matched rate."""
    from benchmarks import bench_match
    from stresstest.comparison import measuring
    from tests.test_compare import BASE, COMPARE

    scenario_file = tmp_path / "compare.toml"
    scenario_file.write_text(BASE + COMPARE)
    assert bench_match.against_replayed_search(scenario_file, tmp_path / "ok") > 5
    real = measuring.requirement_costs

    def an_ulp_high(*args: object) -> list[float]:
        return [float(np.nextafter(cost, np.inf)) for cost in real(*args)]  # type: ignore[arg-type]

    monkeypatch.setattr(measuring, "requirement_costs", an_ulp_high)
    with pytest.raises(ParityError, match="differs from the reference run"):
        bench_match.against_replayed_search(scenario_file, tmp_path / "off")


# ----------------------------------------------------------------------------- lending multi
def test_lending_multi_check_rejects_a_market_other_than_the_run(monkeypatch) -> None:
    """bench_lending_multi's check against the reference passes on its own market and
    fails when the reference prices gas differently from the run."""
    from benchmarks import bench_lending_multi as bench
    from stresstest.engine.lending import lending_plan, prepare_lending, replay_prices
    from stresstest.scenario.validate import scenario_from_dict

    scenario = scenario_from_dict(bench.lending_dict(2000, 8, 100), file=None)
    plan = prepare_lending(scenario)
    small = lending_plan(scenario, plan.source, bench.first_loans(plan.book, 300), plan.grid)
    rows, _ = replay_prices(small, plan.source.chunk(0, 5))
    assert rows[:, enums.N_LIQUIDATIONS].sum() > 0  # path 4 liquidates: gas matters
    assert bench.check_lending(scenario, plan, 300, np.arange(5)) > 0
    monkeypatch.setattr(bench, "GAS", 5000.0)
    with pytest.raises(AssertionError):
        bench.check_lending(scenario, plan, 300, np.arange(5))


def test_lending_multi_check_follows_the_pool_depth() -> None:
    """``--pool-depth`` reaches the run and the reference alike: the check passes at the
    run's depth and fails when the reference's pools are the default ones."""
    from benchmarks import bench_lending_multi as bench
    from stresstest.engine.lending import prepare_lending
    from stresstest.scenario.validate import scenario_from_dict

    scenario = scenario_from_dict(bench.lending_dict(2000, 8, 100, 1e12), file=None)
    plan = prepare_lending(scenario)
    assert bench.check_lending(scenario, plan, 300, np.arange(5), 1e12) > 0
    with pytest.raises(AssertionError):
        bench.check_lending(scenario, plan, 300, np.arange(5))
