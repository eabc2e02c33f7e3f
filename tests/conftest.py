"""Chooses the test lane (docs/testing.md) before any test module is imported.

``pytest -m "not slow"`` is the fast lane: property tests draw fewer examples
(tests/tiers.py). ``pytest`` alone is the full suite, with every test and the example
counts the tests declare. ``STRESSTEST_TEST_TIER=fast|full`` overrides the choice.

The full suite leaves Hypothesis's profile as it is (``default``, or ``ci`` when
Hypothesis detects a CI, or the one ``--hypothesis-profile`` names); the fast lane
loads ``fast``: that profile with fewer examples.

Both lanes set ``OMP_WAIT_POLICY=passive`` (unless it is set already) before any
kernel runs: the property tests call the parallel kernels thousands of times on tiny
books, and OpenMP's default of spinning idle threads made each call take 10-20 ms
instead of 0.07 ms on a machine whose cores are busy (docs/testing.md). How idle
threads wait changes no result; subprocesses the tests start inherit the setting.

Every result folder the suite writes is checked against the shipped schemas:
after each test that used ``tmp_path``, the result folders below it that are
as stresstest wrote them (tests/result_folders.py) are validated with
:func:`stresstest.schemas.validate_result_folder`; a failure is an error of that
test. When the session ends, the same is done once for everything below pytest's
base temporary folder not yet checked, which covers module-scoped folders made
with ``tmp_path_factory`` (a failure there is reported at the teardown of the
last test, naming the file).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests import tiers
from tests.result_folders import validate_written

#: How OpenMP's idle threads wait; read once, when numba first loads its OpenMP layer.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    """Pick the lane from ``STRESSTEST_TEST_TIER`` or ``-m``; in the fast lane, load ``fast``."""
    try:
        tier = tiers.choose_tier(
            os.environ.get(tiers.TIER_VARIABLE) or None, config.getoption("markexpr") or ""
        )
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    tiers.set_tier(tier)
    if tier == "fast":
        current = settings()  # unset values come from the profile loaded now
        settings.register_profile(
            "fast", current, max_examples=tiers.fast_examples(current.max_examples)
        )
        settings.load_profile("fast")


def pytest_report_header(config: pytest.Config) -> str:
    """Say which lane runs, so that a log shows whether example counts were scaled."""
    return (
        f"stresstest test lane: {tiers.current_tier()}, "
        f"hypothesis max_examples {settings().max_examples} by default (docs/testing.md)"
    )


#: Folders already validated, by path and manifest identity.
_CHECKED: set[tuple[str, int, int]] = set()
#: Folders validated, by kind (run, compare, backtest), for the terminal summary.
_KINDS: dict[str, int] = {}


@pytest.fixture(autouse=True)
def _validate_outputs_of_test(request: pytest.FixtureRequest) -> Iterator[None]:
    # Requested before the test, so that tmp_path is torn down after this check.
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is not None:
        validate_written(root, _CHECKED, _KINDS)


@pytest.fixture(autouse=True, scope="session")
def _validate_outputs_of_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    validate_written(tmp_path_factory.getbasetemp(), _CHECKED, _KINDS)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, hand the folders it validated to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["validated_kinds"] = dict(_KINDS)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: absent without it
def pytest_testnodedown(node: object, error: object) -> None:
    """In the pytest-xdist controller, add up what a finished worker validated."""
    for kind, count in getattr(node, "workeroutput", {}).get("validated_kinds", {}).items():
        _KINDS[kind] = _KINDS.get(kind, 0) + count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: how many result folders were validated against the schemas, by kind
    (in every worker, when pytest-xdist runs the suite)."""
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(_KINDS.items())) or "none"
    terminalreporter.write_line(f"result folders validated against stresstest/schemas: {counts}")
