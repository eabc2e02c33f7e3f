"""The shipped reports in reports/ are current (issue 17): each was made from the inputs
reports/inputs.json records, and those inputs are still what its scenario reads. Hashing
only, no engine run (docs/reports.md, "Regenerate the shipped reports")."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
REPORTS = REPO / "reports"
#: The whole check must stay cheap: hashing a few MB, no engine.
CHECK_SECONDS_MAX = 10.0


def make_reports() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_reports", REPO / "docs/make_reports.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_shipped_report_is_listed_with_the_commands_that_make_it() -> None:
    listed = make_reports().REPORTS
    stems = sorted(path.stem for path in REPORTS.glob("*.pdf"))
    assert stems == sorted(listed)
    for png in REPORTS.glob("*.png"):
        match = re.fullmatch(r"(.+)-\d\d-[a-z0-9-]+\.png", png.name)
        assert match and match.group(1) in listed, png.name
    manifest = json.loads((REPORTS / "inputs.json").read_text())
    assert sorted(manifest) == stems


@pytest.mark.parametrize("stem", sorted(path.stem for path in REPORTS.glob("*.pdf")))
def test_shipped_report_is_current(stem: str) -> None:
    started = time.perf_counter()
    recorded = json.loads((REPORTS / "inputs.json").read_text())[stem]
    expected = make_reports().expected_entry(stem)
    assert recorded == expected, (
        f"reports/{stem}.pdf is stale: its scenario, a data file it names or the stresstest "
        f"version changed since it was made. Regenerate it with "
        f"`python docs/make_reports.py {stem}` (runs: {'; '.join(expected['commands'])})"
    )
    assert time.perf_counter() - started < CHECK_SECONDS_MAX


def test_a_changed_input_makes_the_digest_differ(tmp_path: Path) -> None:
    """The check can fail: an edited value, a changed data file, another version."""
    from stresstest.scenario.provenance import inputs_digest

    data = tmp_path / "data.csv"
    data.write_text("a\n1\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text('[paths]\nfile = "data.csv"\nsigma = 0.01   # a comment\n')
    first = inputs_digest(scenario, "1")
    scenario.write_text('[paths]\nfile = "data.csv"\nsigma = 0.01   # another comment\n')
    assert inputs_digest(scenario, "1") == first  # comments are not inputs
    assert inputs_digest(scenario, "2") != first
    data.write_text("a\n22\n")
    second = inputs_digest(scenario, "1")
    assert second != first
    scenario.write_text('[paths]\nfile = "data.csv"\nsigma = 0.02\n')
    assert inputs_digest(scenario, "1") != second
