"""Every command of the README and the quickstart runs as written, so the docs cannot drift.

The ``sh`` and ``python`` code blocks of README.md and docs/quickstart.md are
extracted and run in order, in a fresh workspace that looks like the repository's
top folder (``scenarios/`` and ``docs/examples/`` copied, ``data/`` linked), with
this environment's ``stresstest`` and ``python`` first on ``PATH``. A block is
left out only when the line before it says ``<!-- docs-test: skip (reason) -->``
or it sits between the ``<!-- run:begin -->``/``<!-- test:begin -->`` markers that
``.ci/run`` itself executes on a fresh machine (installing the package cannot be
done from inside the test suite's own environment). The quickstart's printed
summary rows are compared with what the default run prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b")
CI_BLOCK = re.compile(r"<!--\s*(run|test):(begin|end)\s*-->")
#: Seconds one block may take (the comparisons with --match cost take about a minute).
BLOCK_TIMEOUT = 900


@dataclass(frozen=True)
class Block:
    """A fenced code block: its language, text and first line number (1-based)."""

    language: str
    text: str
    line: int
    skipped: bool


def code_blocks(markdown: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, with whether the docs test skips them."""
    blocks = []
    lines = markdown.read_text(encoding="utf-8").splitlines()
    in_ci_block = False
    previous = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = CI_BLOCK.search(line)
        if marker:
            in_ci_block = marker.group(2) == "begin"
        fence = FENCE.match(line)
        if fence:
            language = fence.group(1)
            body = []
            index += 1
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            skipped = in_ci_block or bool(SKIP.search(previous))
            blocks.append(Block(language, "\n".join(body) + "\n", index - len(body), skipped))
        if line.strip():
            previous = line
        index += 1
    return blocks


def runnable(markdown: Path) -> list[Block]:
    """The blocks the test runs: ``sh`` and ``python``, not skipped."""
    return [
        block
        for block in code_blocks(markdown)
        if block.language in ("sh", "python") and not block.skipped
    ]


def workspace(root: Path) -> Path:
    """A folder that looks like the repository's top folder to the documented commands."""
    shutil.copytree(REPO / "scenarios", root / "scenarios")
    shutil.copytree(REPO / "docs" / "examples", root / "docs" / "examples")
    (root / "data").symlink_to(REPO / "data", target_is_directory=True)
    return root


def run_block(block: Block, markdown: Path, cwd: Path) -> str:
    """Run one block (bash with ``-e``, or python) in ``cwd``; return its standard output."""
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment["COLUMNS"] = "200"
    if block.language == "python":
        command = [sys.executable, "-c", block.text]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", block.text]
    completed = subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"{markdown.name} line {block.line}: block exited {completed.returncode}\n"
        f"{block.text}\n--- stdout ---\n{completed.stdout[-3000:]}\n"
        f"--- stderr ---\n{completed.stderr[-3000:]}"
    )
    return completed.stdout


def test_block_extraction_honours_skip_and_ci_markers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- run:begin -->\n```sh\npip install .\n```\n<!-- run:end -->\n\n"
        "<!-- docs-test: skip (needs a cluster) -->\n```sh\nstresstest run --executor dask\n```\n\n"
        "```sh\nstresstest version\n```\n\n```text\nnot run\n```\n\n"
        "```python\nprint(1)\n```\n"
    )
    assert [(block.language, block.text) for block in runnable(page)] == [
        ("sh", "stresstest version\n"),
        ("python", "print(1)\n"),
    ]
    assert len(code_blocks(page)) == 5


def test_the_readme_and_quickstart_have_runnable_blocks() -> None:
    assert len(runnable(REPO / "README.md")) >= 3
    assert len(runnable(REPO / "docs" / "quickstart.md")) >= 8


@pytest.mark.slow
def test_readme_commands_run(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    for block in runnable(REPO / "README.md"):
        run_block(block, REPO / "README.md", cwd)
    for written in (
        "runs/march_2020/summary.json",
        "runs/hyperliquid/summary.json",
        "runs/aave/summary.json",
        "runs/compare_btc/compare.parquet",
        "reports/compare_btc.pdf",
        "reports/default.pdf",
        "garch_paths.parquet",
        "runs/reverse/reverse.json",
        "runs/optimize_btc/optimize.json",
        "my_scenario.toml",
        "scenario.schema.json",
    ):
        assert (cwd / written).is_file(), f"the README's commands did not write {written}"


def _table_rows(text: str) -> list[str]:
    """Rows of a printed rich table, whitespace collapsed: ``bad_debt │ 102.14M │ ...``."""
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.startswith("│") and not line.startswith("│ metric")
    ]


@pytest.mark.slow
def test_quickstart_commands_run_and_its_numbers_are_current(tmp_path: Path) -> None:
    quickstart = REPO / "docs" / "quickstart.md"
    cwd = workspace(tmp_path)
    printed = "".join(run_block(block, quickstart, cwd) for block in runnable(quickstart))
    shown = [
        block.text
        for block in code_blocks(quickstart)
        if block.language == "text" and "│" in block.text
    ]
    assert len(shown) == 1, "the quickstart shows one summary table"
    documented = _table_rows(shown[0])
    assert documented, "the quickstart's summary table has no rows"
    current = _table_rows(printed)
    for row in documented:
        assert row in current, f"quickstart row {row!r} is not what `stresstest run` prints now"
    assert (cwd / "runs" / "my_scenario" / "summary.json").is_file()
    assert (cwd / "reports" / "my_compare.pdf").is_file()


@pytest.mark.parametrize(
    "page", ["README.md", "docs/quickstart.md", "docs/README.md"], ids=lambda page: page
)
def test_relative_links_resolve(page: str) -> None:
    markdown = REPO / page
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", markdown.read_text(encoding="utf-8")):
        assert (markdown.parent / target).exists(), f"{page}: link to {target} is broken"


def _squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    "page", sorted((REPO / "docs" / "concepts").glob("*.md")), ids=lambda page: page.name
)
def test_concept_pages_quote_model_md_verbatim(page: Path) -> None:
    """Formulas on the concept pages are quotes of docs/model.md, so the two cannot diverge.

    Every line of a ``text`` block and every block-quoted paragraph (``> ...``,
    indented or not) of a concept page must appear in docs/model.md (whitespace aside).
    """
    model = _squeeze((REPO / "docs" / "model.md").read_text(encoding="utf-8"))
    quoted: list[str] = []
    paragraph: list[str] = []
    for line in [*page.read_text(encoding="utf-8").splitlines(), ""]:
        if line.lstrip().startswith(">"):
            paragraph.append(line.lstrip()[1:])
        elif paragraph:
            quoted.append(_squeeze(" ".join(paragraph)))
            paragraph = []
    for block in code_blocks(page):
        if block.language == "text":
            quoted.extend(_squeeze(line) for line in block.text.splitlines() if line.strip())
    assert quoted, f"{page.name} quotes no formula from docs/model.md"
    for quote in quoted:
        assert quote in model, f"{page.name}: {quote!r} is not in docs/model.md"
