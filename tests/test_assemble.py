"""One place assembles a Result from chunk outputs (engine/assemble.py, docs/development.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from stresstest.engine.assemble import assemble_results, replay_results
from stresstest.engine.result import BookStats, Result
from stresstest.engine.run import execute, prepare, run
from stresstest.scenario import Scenario, load_scenario
from tests.test_compare import BASE

PACKAGE = Path(__file__).resolve().parents[1] / "stresstest"


def result_constructions(root: Path) -> list[str]:
    """``file:line`` of every call ``Result(...)`` in the modules under ``root``."""
    found = []
    for module in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            name = node.func if isinstance(node, ast.Call) else None
            if isinstance(name, ast.Name) and name.id == "Result":
                found.append(f"{module.relative_to(root.parent)}:{node.lineno}")
    return found


def test_only_assemble_builds_a_result() -> None:
    """No module but engine/assemble.py calls ``Result(...)``: run, compare, a match's
    scan, reverse, accounts and lending all assemble through ``assemble_results``."""
    sites = result_constructions(PACKAGE)
    assert len(sites) == 1, sites
    assert sites[0].startswith("stresstest/engine/assemble.py:"), sites


def test_the_scan_finds_a_second_site(tmp_path: Path) -> None:
    """The scan above can fail: a module that builds a Result of its own is found."""
    package = tmp_path / "stresstest"
    package.mkdir()
    (package / "a.py").write_text("Result(scenario=None)\nx = ReverseResult()\n")
    (package / "b.py").write_text("def f():\n    return [Result(1) for _ in ()]\n")
    assert result_constructions(package) == ["stresstest/a.py:1", "stresstest/b.py:2"]


class _Ids:
    """A path source that only has path ids (what assembly reads of it)."""

    def path_ids(self) -> np.ndarray:
        return np.arange(5, 8, dtype=np.int64)


def test_assemble_slices_variants_and_columns(tmp_path: Path) -> None:
    """Variant ``i`` gets row ``i`` of both arrays, its metric columns cut at ``columns``,
    its own book and attribution; ``describe_paths=False`` records no provenance."""
    scenario = load_text(BASE, tmp_path)
    metrics = np.arange(2 * 3 * 40, dtype=np.float64).reshape(2, 3, 40)
    records = np.arange(2 * 3 * 4 * 2, dtype=np.float64).reshape(2, 3, 4, 2)
    books = [BookStats(10, 4, 1.0e6), BookStats(12, 6, 2.0e6, 5.0)]
    grid = np.array([0, 9])
    results = assemble_results(
        [scenario, scenario],
        metrics,
        records,
        source=_Ids(),
        grid=grid,
        books=books,
        columns=30,
        describe_paths=False,
    )
    assert [type(result) for result in results] == [Result, Result]
    for index, result in enumerate(results):
        np.testing.assert_array_equal(result.metrics, metrics[index, :, :30])
        np.testing.assert_array_equal(result.records, records[index])
        np.testing.assert_array_equal(result.path_ids, [5, 6, 7])
        assert result.book is books[index]
        assert result.grid is grid
        assert result.paths_record is None and result.references is None
        assert result.attribution is None
    whole = assemble_results(
        [scenario], metrics[:1], records[:1], source=_Ids(), grid=grid, books=books
    )
    assert whole[0].metrics.shape == (3, 40)
    assert whole[0].references == {}  # a source without reference paths offers none


def load_text(text: str, folder: Path) -> Scenario:
    path = folder / "s.toml"
    path.write_text(text)
    return load_scenario(path)


@pytest.mark.parametrize("attribution", [True, False])
def test_run_is_prepare_execute_assemble(tmp_path: Path, attribution: bool) -> None:
    """``run`` gives the same per-path columns, records and attribution as the three steps
    of docs/development.md done by hand."""
    scenario = load_text(BASE, tmp_path)
    whole = run(scenario, chunk_size=17)
    plan, stats = prepare([scenario], attribution=attribution)
    metrics, records = execute(plan, chunk_size=23)
    [result] = replay_results(plan, stats, metrics, records, scenarios=[scenario])
    assert result.paths_frame().equals(whole.paths_frame())
    np.testing.assert_array_equal(result.records, whole.records)
    assert (result.attribution is not None) == attribution
    if attribution:
        assert whole.attribution is not None and result.attribution is not None
        assert result.attribution.cohort_frame(result.path_ids).equals(
            whole.attribution.cohort_frame(whole.path_ids)
        )


#: One shipped scenario of each kind, cut small: (file, --set overrides, kind).
KINDS = {
    "single_asset": ("gbm_btc.toml", ("paths.n_paths=6", "book.n_positions=2000")),
    "accounts": ("cross_gbm.toml", ("paths.n_paths=6", "book.n_accounts=2000")),
    "lending": ("lending/aave_v3_eth_usdc.toml", ("paths.n_paths=6", "book.n_loans=300")),
}


def own_runner(kind: str, scenario: Scenario) -> Result:
    """The scenario replayed by its kind's own functions, as ``compare`` calls them."""
    if kind == "accounts":
        from stresstest.engine.accounts import run_accounts

        return run_accounts(scenario, chunk_size=4)
    if kind == "lending":
        from stresstest.engine.lending import prepare_lending, run_lending

        return run_lending(scenario, prepare_lending(scenario), chunk_size=4)
    plan, stats = prepare([scenario])
    metrics, records = execute(plan, chunk_size=4)
    return replay_results(plan, stats, metrics, records, scenarios=[scenario])[0]


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_runs_as_one_prepared_run(kind: str) -> None:
    """``prepare_run`` makes the one :class:`PreparedRun` of each kind; its execute and
    results (in other chunks), and so ``run``, give the columns and records of the
    kind's own plan and chunk functions bit for bit."""
    from stresstest.engine.run import prepare_run

    name, sets = KINDS[kind]
    scenario = load_scenario(PACKAGE.parent / "scenarios" / name, sets=sets)
    own = own_runner(kind, scenario)
    prepared = prepare_run([scenario])
    assert prepared.kind == kind
    assert prepared.n_paths == 6
    metrics, records = prepared.execute(chunk_size=5)
    assert metrics.shape == (1, 6, prepared.n_metrics)
    [result] = prepared.results(metrics, records)
    whole = run(scenario)
    for other in (result, whole):
        assert other.paths_frame().equals(own.paths_frame())
        np.testing.assert_array_equal(other.records, own.records)
