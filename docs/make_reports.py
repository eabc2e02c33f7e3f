"""Regenerate the shipped reports in reports/ and record what they were made from.

    python docs/make_reports.py                  # every shipped report (several minutes)
    python docs/make_reports.py default          # one of them
    python docs/make_reports.py --record default # only record: after running its commands by hand

Each report of :data:`REPORTS` is made by its commands, run from the repository's
top folder; then reports/inputs.json records, per report, the scenario it was made
from and :func:`stresstest.scenario.provenance.inputs_digest` of it (the parsed
scenario, the SHA-256 of every data file it names, the stresstest version).
tests/test_shipped_reports.py recomputes those digests without running anything and
fails when a report is stale. docs/reports.md says more.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "reports" / "inputs.json"

#: Report stem -> (the scenario it is made from, the commands that make it).
REPORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": (
        "scenarios/default.toml",
        (
            "stresstest run scenarios/default.toml --out runs/default "
            "--report reports/default.pdf --png",
        ),
    ),
    "compare_btc": (
        "scenarios/compare_btc.toml",
        (
            "stresstest compare scenarios/compare_btc.toml --match cost --out runs/compare_btc",
            "stresstest report runs/compare_btc --out reports/compare_btc.pdf --png",
        ),
    ),
}


def expected_entry(stem: str) -> dict[str, object]:
    """What reports/inputs.json must say of a report whose inputs are as they are now."""
    from stresstest._version import __version__
    from stresstest.scenario.provenance import inputs_digest

    scenario, commands = REPORTS[stem]
    return {
        "scenario": scenario,
        "commands": list(commands),
        "inputs_sha256": inputs_digest(REPO / scenario, __version__),
    }


def record(stems: list[str]) -> None:
    """Write the entries of ``stems`` into reports/inputs.json, keeping the others."""
    entries = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    entries.update({stem: expected_entry(stem) for stem in stems})
    MANIFEST.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def main(argv: list[str]) -> None:
    only_record = "--record" in argv
    stems = [word for word in argv if word != "--record"] or sorted(REPORTS)
    unknown = sorted(set(stems) - set(REPORTS))
    if unknown:
        sys.exit(f"unknown report {unknown}; the shipped ones are {sorted(REPORTS)}")
    for stem in stems:
        if not only_record:
            for command in REPORTS[stem][1]:
                print(f"+ {command}", flush=True)
                subprocess.run(shlex.split(command), cwd=REPO, check=True)
        record([stem])
        print(f"recorded the inputs of reports/{stem}.pdf in {MANIFEST.relative_to(REPO)}")


if __name__ == "__main__":
    main(sys.argv[1:])
