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

from stresstest.scenario.accounts import ACCOUNTS_VARIANTS
from stresstest.scenario.lending import LENDING_VARIANTS
from stresstest.scenario.schema import CORE_VARIANT_TABLES


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
