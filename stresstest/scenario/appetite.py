"""``[appetite]``: the limits a risk committee wrote down (docs/check.md).

The table's fields only; :mod:`stresstest.check.appetite` reads it from a scenario and
checks a run against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from stresstest.limits import AMOUNT_MAX
from stresstest.scenario.schema import spec


@dataclass(frozen=True, kw_only=True)
class Appetite:
    """``[appetite]``: upper limits on headline figures (absent: not limited), and what
    ``stresstest optimize`` minimises among the designs that meet them."""

    objective: str = spec(
        "What optimize minimises: the average maintenance requirement (requirement_mean) "
        "or the insurance fund's size (fund_initial).",
        default="requirement_mean",
        choices=("requirement_mean", "fund_initial"),
    )

    probability_fund_depleted_max: float | None = spec(
        "Largest share of paths on which the insurance fund may run dry (socialized loss > 0).",
        default=None,
        unit="fraction of paths",
        ge=0.0,
        le=1.0,
    )
    bad_debt_es99_max: float | None = spec(
        "Largest ES 99% of bad debt per path (mean of the worst 1% of paths).",
        default=None,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    bad_debt_mean_max: float | None = spec(
        "Largest expected bad debt per path.",
        default=None,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    socialized_loss_mean_max: float | None = spec(
        "Largest expected socialized loss per path.",
        default=None,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    liquidations_mean_max: float | None = spec(
        "Largest mean number of liquidations per path.",
        default=None,
        unit="positions",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    requirement_mean_max: float | None = spec(
        "Largest average maintenance requirement (what traders pay for the protection).",
        default=None,
        unit="quote units",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    # Procyclicality (docs/model.md 3.2): need the scenario's [procyclicality] table.
    margin_peak_to_trough_mean_max: float | None = spec(
        "Largest mean over paths of the margin rate's peak-to-trough ratio max m_t / min m_t "
        "(needs [procyclicality]).",
        default=None,
        unit="dimensionless",
        ge=1.0,
        le=AMOUNT_MAX,
    )
    margin_max_increase_mean_max: float | None = spec(
        "Largest mean over paths of the largest n-step relative rise of the margin rate "
        "(n = procyclicality.horizon_steps; needs [procyclicality]).",
        default=None,
        unit="fraction",
        ge=0.0,
        le=AMOUNT_MAX,
    )
    procyclical_liquidations_mean_max: float | None = spec(
        "Largest mean number per path of liquidations caused by margin increases alone "
        "(needs [procyclicality]; with partial liquidation every close counts).",
        default=None,
        unit="closes",
        ge=0.0,
        le=AMOUNT_MAX,
    )
