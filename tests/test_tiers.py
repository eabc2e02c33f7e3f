"""The test lanes (docs/testing.md): how the lane is chosen, how examples are scaled,
and that no test module comparing with a plain reference leaves the fast lane whole."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.errors import InvalidArgument

from tests import tiers

TESTS = Path(__file__).resolve().parent
#: Test modules of hand-computed cases and closed forms (no tests/reference*.py import).
HAND_AND_CLOSED_FORM_MODULES = ("test_closed_form.py", "test_hand_cases.py")


@pytest.mark.parametrize(
    ("environment_value", "mark_expression", "tier"),
    [
        (None, "", "full"),
        (None, "not slow", "fast"),
        (None, "not  slow and not dask", "fast"),
        (None, "slow", "full"),
        (None, "not slowish", "full"),
        ("full", "not slow", "full"),
        ("fast", "", "fast"),
    ],
)
def test_the_lane_follows_the_variable_then_the_mark_expression(
    environment_value: str | None, mark_expression: str, tier: str
) -> None:
    assert tiers.choose_tier(environment_value, mark_expression) == tier


def test_an_unknown_lane_is_refused_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(ValueError) as caught:
        tiers.choose_tier("quick", "")
    message = str(caught.value)
    assert tiers.TIER_VARIABLE in message and "'quick'" in message
    assert "fast, full" in message


@pytest.mark.parametrize(
    ("full", "fast"), [(600, 60), (300, 30), (250, 25), (100, 10), (60, 10), (12, 10), (5, 5)]
)
def test_the_fast_lane_draws_a_tenth_but_at_least_ten(full: int, fast: int) -> None:
    assert tiers.fast_examples(full) == fast


def test_examples_are_unchanged_in_the_full_lane_and_scaled_in_the_fast_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tiers, "_tier", "full")
    assert tiers.examples(600) == 600
    monkeypatch.setattr(tiers, "_tier", "fast")
    assert tiers.examples(600) == 60


def test_this_run_loaded_the_profile_of_its_lane() -> None:
    if tiers.current_tier() == "fast":
        assert settings.default is settings.get_profile("fast")
    else:
        with pytest.raises(InvalidArgument):  # only the fast lane registers it
            settings.get_profile("fast")


def _is_slow_mark(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (also inside a list, as in ``pytestmark = [...]``)."""
    if isinstance(node, ast.List | ast.Tuple):
        return any(_is_slow_mark(element) for element in node.elts)
    return ast.unparse(node) == "pytest.mark.slow"


def _fast_tests(module: Path) -> list[str]:
    """The test functions of ``module`` that are not marked slow (none if the module is)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for statement in tree.body:
        if not isinstance(statement, ast.Assign):
            continue
        names = {target.id for target in statement.targets if isinstance(target, ast.Name)}
        if "pytestmark" in names and _is_slow_mark(statement.value):
            return []
    return [
        statement.name
        for statement in tree.body
        if isinstance(statement, ast.FunctionDef)
        and statement.name.startswith("test_")
        and not any(_is_slow_mark(decorator) for decorator in statement.decorator_list)
    ]


def reference_modules() -> list[Path]:
    """Test modules comparing the engine with tests/reference*.py, hand cases or closed forms."""
    modules = []
    for module in sorted(TESTS.glob("test_*.py")):
        text = module.read_text(encoding="utf-8")
        if module.name in HAND_AND_CLOSED_FORM_MODULES or "from tests.reference" in text:
            modules.append(module)
    return modules


def test_reference_modules_are_found() -> None:
    names = {module.name for module in reference_modules()}
    assert {"test_replay_reference.py", "test_closed_form.py", "test_hand_cases.py"} <= names


@pytest.mark.parametrize("module", reference_modules(), ids=lambda module: module.name)
def test_every_reference_module_keeps_tests_in_the_fast_lane(module: Path) -> None:
    assert _fast_tests(module), f"{module.name}: every test is marked slow"
