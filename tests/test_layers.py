"""Layering rules of docs/development.md: no registry filled at import time, one way down."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from stresstest.errors import InputError
from stresstest.scenario import load_scenario, schema
from stresstest.scenario.accounts import is_accounts_scenario
from stresstest.scenario.tables import BOOK_KINDS, VARIANT_TABLES, scenario_kind

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stresstest"


def import_time_mutations(root: Path) -> list[str]:
    """``file:line`` of module-level statements that change an object in place.

    A call statement on an attribute or a subscript (``x.y.update(...)``,
    ``x["k"].append(...)``) and an assignment to an attribute or a subscript
    (``x.y = ...``, ``x["k"] = ...``) at the top level of a module; a plain
    function call (``main()``, ``matplotlib.use("Agg")``: the named exceptions
    below) is not counted.
    """
    allowed = {"matplotlib.use('Agg')"}
    found = []
    for module in sorted(root.rglob("*.py")):
        for node in ast.parse(module.read_text(encoding="utf-8")).body:
            changed = False
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                target = node.value.func
                changed = isinstance(target, ast.Attribute) and isinstance(
                    target.value, ast.Attribute | ast.Subscript
                )
                changed = changed and ast.unparse(node) not in allowed
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                changed = any(isinstance(t, ast.Attribute | ast.Subscript) for t in targets)
            if changed:
                found.append(f"{module.relative_to(root.parent)}:{node.lineno}")
    return found


def test_no_registry_is_filled_at_import_time() -> None:
    """No module changes another module's tables when it is imported (the accounts and
    lending variants are composed in scenario/tables.py, not added to schema's)."""
    assert import_time_mutations(PACKAGE) == []


def test_the_mutation_scan_can_fail(tmp_path: Path) -> None:
    package = tmp_path / "stresstest"
    package.mkdir()
    (package / "a.py").write_text(
        'from x import schema\nschema.TABLES["book"][1].update({})\nmain()\n'
        'schema.EXTRA = 1\nschema.TABLES["k"] = 2\nmatplotlib.use("Agg")\n'
    )
    assert import_time_mutations(package) == [
        "stresstest/a.py:2",
        "stresstest/a.py:4",
        "stresstest/a.py:5",
    ]


def test_variant_tables_do_not_depend_on_import_order() -> None:
    """Importing lending before accounts (or neither) gives the same variant tables, in
    the same order, and leaves the single-asset tables as they are written."""
    program = (
        "import {first}, {second}\n"
        "from stresstest.scenario import schema\n"
        "from stresstest.scenario.tables import VARIANT_TABLES\n"
        "print({{t: list(v) for t, (_, v) in VARIANT_TABLES.items()}})\n"
        "print({{t: list(v) for t, (_, v) in schema.CORE_VARIANT_TABLES.items()}})\n"
    )
    outputs = set()
    for first, second in (
        ("stresstest.scenario.lending", "stresstest.scenario.accounts"),
        ("stresstest.scenario.accounts", "stresstest.scenario.lending"),
        ("stresstest.scenario.schema", "stresstest.scenario.tables"),
    ):
        completed = subprocess.run(
            [sys.executable, "-c", program.format(first=first, second=second)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        outputs.add(completed.stdout)
    assert len(outputs) == 1
    tables, core = outputs.pop().splitlines()
    assert "'loans_file'" in tables and "'gbm_multi'" in tables
    assert "loans_file" not in core and "gbm_multi" not in core
    books = list(VARIANT_TABLES["book"][1])
    assert books == [
        "synthetic",
        "file",
        "accounts_synthetic",
        "accounts_file",
        "loans_file",
        "loans_synthetic",
    ]
    assert list(schema.CORE_VARIANT_TABLES["book"][1]) == ["synthetic", "file"]
    with pytest.raises(TypeError):
        VARIANT_TABLES["book"][1]["x"] = object  # type: ignore[index]


def test_a_variant_key_that_is_not_a_string_is_an_input_error(tmp_path: Path) -> None:
    """``[book] source = ["synthetic"]`` is refused naming the key (it used to end in a
    TypeError traceback: a list cannot be looked up in the variant table)."""
    text = (ROOT / "scenarios" / "gbm_btc.toml").read_text()
    assert 'source = "synthetic"' in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace('source = "synthetic"', 'source = ["synthetic"]', 1))
    with pytest.raises(InputError) as raised:
        load_scenario(path)
    assert raised.value.key == "book.source"


def test_every_book_variant_has_one_kind() -> None:
    """The kind lookup covers every ``[book]`` source validation accepts, and nothing else."""
    assert set(BOOK_KINDS) == set(VARIANT_TABLES["book"][1])
    assert set(BOOK_KINDS.values()) == {"single_asset", "accounts", "lending"}


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "scenarios").rglob("*.toml")),
    ids=lambda path: str(path.relative_to(ROOT / "scenarios")),
)
def test_scenario_kind_agrees_with_the_tables(path: Path) -> None:
    """A shipped scenario's kind is lending exactly when it has ``[lending]``, accounts
    exactly when it has multi-asset paths and an accounts book."""
    scenario = load_scenario(path)
    kind = scenario_kind(scenario)
    assert (kind == "lending") == (scenario.lending is not None)
    assert (kind == "accounts") == is_accounts_scenario(scenario)


#: Layers above the engine: the engine and the kernels never import them.
ABOVE_THE_ENGINE = (
    "stresstest.comparison",
    "stresstest.report",
    "stresstest.cli",
    "stresstest.jobs",
)


def upward_imports(package: Path, layer: str, above: tuple[str, ...]) -> list[str]:
    """``file:line name`` of every import in ``package/layer`` of a module in ``above``."""
    found = []
    for module in sorted((package / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if any(name == up or name.startswith(up + ".") for up in above):
                    found.append(f"{module.relative_to(package.parent)}:{node.lineno} {name}")
                    break
    return found


@pytest.mark.parametrize("layer", ["engine", "kernels"])
def test_the_engine_and_kernels_import_no_layer_above_them(layer: str) -> None:
    assert upward_imports(PACKAGE, layer, ABOVE_THE_ENGINE) == []


def test_the_upward_import_scan_can_fail(tmp_path: Path) -> None:
    engine = tmp_path / "stresstest" / "engine"
    engine.mkdir(parents=True)
    (engine / "a.py").write_text(
        "def f():\n    from stresstest.comparison.spec import x\n", encoding="utf-8"
    )
    (engine / "b.py").write_text("from stresstest import jobs\n", encoding="utf-8")
    found = upward_imports(tmp_path / "stresstest", "engine", ABOVE_THE_ENGINE)
    assert found == [
        "stresstest/engine/a.py:2 stresstest.comparison.spec",
        "stresstest/engine/b.py:1 stresstest.jobs",
    ]
