"""stresstest: stress tests of margin, liquidation and insurance-fund designs.

The Python API mirrors the command line:

>>> import stresstest
>>> scenario = stresstest.load_scenario("scenarios/default.toml")      # doctest: +SKIP
>>> result = stresstest.run(scenario.with_overrides({"paths.n_paths": 100}))  # doctest: +SKIP
>>> result.paths                # polars DataFrame, the columns of paths.parquet  # doctest: +SKIP
>>> result.summary()            # the content of summary.json                     # doctest: +SKIP
>>> result.summary_frame()      # the same, tidy: metric, statistic, estimate, ...  # doctest: +SKIP
>>> result.warnings             # plausibility findings, also issued as warnings  # doctest: +SKIP
>>> stresstest.run("scenarios/gbm_btc.toml")  # a path works too (str or Path)   # doctest: +SKIP
>>> comparison = stresstest.compare(scenario, match="cost")  # needs [compare]   # doctest: +SKIP

Bad input raises :class:`InputError` carrying ``file``, ``key``, ``row``,
``value`` and ``expected``. The comparison machinery lives in the
``stresstest.comparison`` subpackage; ``stresstest.compare`` is its entry point.
"""

from stresstest._version import __version__
from stresstest.errors import InputError

__all__ = ["InputError", "__version__", "compare", "load_scenario", "run"]


def __getattr__(name: str) -> object:
    """Import the API lazily, so ``import stresstest`` stays fast for the CLI."""
    if name == "load_scenario":
        from stresstest.scenario.validate import load_scenario

        return load_scenario
    if name == "run":
        from stresstest.engine.run import run

        return run
    if name == "compare":
        from stresstest.comparison.engine import compare

        return compare
    raise AttributeError(f"module 'stresstest' has no attribute {name!r}")
