"""Constants the kernels and the engine share.

Per-path outputs of the replay kernels are rows of a float64 matrix; the
column order is fixed here so that kernels, engine and tests agree.
"""

from __future__ import annotations

# Columns of the per-path output matrix (one row per path).
N_LIQUIDATIONS = 0  # count of positions closed by liquidation
LIQUIDATED_NOTIONAL = 1  # sum of q_i * x_i over closes, quote units
BAD_DEBT = 2  # sum of max(0, -e'_i) over closes, quote units
FEES_TO_FUND = 3  # fund's share of penalties paid, quote units
FEES_TO_LIQUIDATORS = 4  # liquidators' share of penalties paid, quote units
FUND_END = 5  # insurance fund after step T, quote units
FUND_MIN = 6  # minimum of the fund over the initial value and every step, quote units
FUND_MAX_DRAWDOWN = 7  # largest fall of the fund from its running peak, quote units
SOCIALIZED_LOSS = 8  # shortfall the fund could not cover, quote units
FUND_REQUIRED = 9  # smallest initial fund with no socialized loss, quote units
REQUIREMENT_MEAN = 10  # time average of the maintenance requirement of open positions, quote units
MARGIN_RATE_MEAN = 11  # notional-weighted average maintenance rate over steps, fraction
N_METRICS = 12

#: Output column names in column order.
METRIC_NAMES: tuple[str, ...] = (
    "n_liquidations",
    "liquidated_notional",
    "bad_debt",
    "fees_to_fund",
    "fees_to_liquidators",
    "fund_end",
    "fund_min",
    "fund_max_drawdown",
    "socialized_loss",
    "fund_required",
    "requirement_mean",
    "margin_rate_mean",
)

# Margin models.
MARGIN_STATIC = 0
MARGIN_VOL_SCALED = 1

# Random-stream identifiers (the second word of the Philox counter), so that
# different uses of randomness for the same path never share draws.
STREAM_GBM = 0
STREAM_GARCH = 1  # GARCH-family innovations (normal, Student-t, skewed t)
STREAM_BOOTSTRAP = 2  # stationary block bootstrap of historical returns
STREAM_FHS = 3  # filtered historical simulation: draws of standardized residuals

# GARCH-family variance models (kernels/garch.py).
VOL_GARCH = 0  # GARCH(1,1), also GJR with gamma = 0
VOL_GJR = 1  # GJR-GARCH(1,1,1): asymmetric term gamma eps^2 1{eps < 0}
VOL_EGARCH = 2  # EGARCH(1,1,1) in arch's form, recursion on ln sigma^2

# Innovation distributions (kernels/garch.py).
DIST_NORMAL = 0  # standard normal, Box-Muller pairs
DIST_T = 1  # Student-t standardized to unit variance, Bailey's polar method
DIST_SKEWT = 2  # Hansen's skewed t (arch's SkewStudent), unit variance
DIST_EMPIRICAL = 3  # iid draws from a given array of standardized residuals (FHS)
