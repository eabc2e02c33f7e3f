"""Every result folder the suite writes is checked against the shipped schemas.

After each test that used ``tmp_path``, the result folders below it that are
as stresstest wrote them (tests/result_folders.py) are validated with
:func:`stresstest.schemas.validate_result_folder`; a failure is an error of that
test. When the session ends, the same is done once for everything below pytest's
base temporary folder not yet checked, which covers module-scoped folders made
with ``tmp_path_factory`` (a failure there is reported at the teardown of the
last test, naming the file).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.result_folders import validate_written

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: how many result folders were validated against the schemas, by kind."""
    counts = ", ".join(f"{count} {kind}" for kind, count in sorted(_KINDS.items())) or "none"
    terminalreporter.write_line(f"result folders validated against stresstest/schemas: {counts}")
