"""The variant tables of every kind of scenario, composed once when this module loads.

Single-asset (:mod:`stresstest.scenario.schema`), multi-asset accounts
(:mod:`stresstest.scenario.accounts`) and lending (:mod:`stresstest.scenario.lending`)
each list their own variants; nothing adds to another module's table at import
time, so what a scenario may hold does not depend on which modules happen to
have been imported, and the order of the variants (the JSON Schema's ``oneOf``,
docs/scenario-reference.md) is the one written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from stresstest.scenario.accounts import ACCOUNTS_VARIANTS
from stresstest.scenario.lending import LENDING_VARIANTS
from stresstest.scenario.schema import CORE_VARIANT_TABLES, Scenario


def _compose(*extra: Mapping[str, Mapping[str, type]]) -> dict[str, tuple[str, Mapping[str, type]]]:
    """The core tables, each with the variants of ``extra`` appended in order."""
    composed: dict[str, tuple[str, Mapping[str, type]]] = {}
    for table, (key, variants) in CORE_VARIANT_TABLES.items():
        merged = dict(variants)
        for more in extra:
            merged.update(more.get(table, {}))
        composed[table] = (key, MappingProxyType(merged))
    return composed


#: Tables with variants: table name -> (discriminating key, {value: dataclass}), for every
#: kind of scenario (single-asset, then accounts, then lending variants); read-only.
VARIANT_TABLES: Mapping[str, tuple[str, Mapping[str, type]]] = MappingProxyType(
    _compose(ACCOUNTS_VARIANTS, LENDING_VARIANTS)
)


#: The kinds of scenario, each replayed by its own plan and chunk function
#: (docs/development.md): one asset's positions, multi-asset accounts, a loan book.
ScenarioKind = Literal["single_asset", "accounts", "lending"]

#: ``[book] source`` -> the kind of scenario it makes. Validation keeps the rest of a
#: scenario consistent with its book (multi-asset paths go with an accounts or a loan
#: book, ``[lending]`` with a loan book, ``[accounts]`` with an accounts book), so the
#: book alone says the kind: a lookup, not an ordered series of tests.
BOOK_KINDS: Mapping[str, ScenarioKind] = MappingProxyType(
    {
        **dict.fromkeys(CORE_VARIANT_TABLES["book"][1], "single_asset"),
        **dict.fromkeys(ACCOUNTS_VARIANTS["book"], "accounts"),
        **dict.fromkeys(LENDING_VARIANTS["book"], "lending"),
    }
)


def scenario_kind(scenario: Scenario) -> ScenarioKind:
    """Which kind of scenario a loaded (so validated) ``scenario`` is, by its ``[book]``."""
    return BOOK_KINDS[scenario.book.source]
