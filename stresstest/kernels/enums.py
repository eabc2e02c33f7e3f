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

# Rows of a path's record at the grid steps ``(N_GRID, G)`` (kernels/fund.py record_grid).
# Here so that the engine sizes and reads records without importing a compiled kernel.
GRID_PRICE = 0  # price at the grid step, quote per base
GRID_FUND = 1  # fund after the grid step, quote units
GRID_COUNT = 2  # positions closed in (previous grid step, this grid step]
GRID_NOTIONAL = 3  # notional closed in the same interval, quote units
N_GRID = 4

# Margin models.
MARGIN_STATIC = 0
MARGIN_VOL_SCALED = 1

# The margin design vector every replay kernel takes (float64, engine.plan.margin_arguments).
MARGIN_ARG_MODEL = 0  # MARGIN_STATIC or MARGIN_VOL_SCALED
MARGIN_ARG_MAINTENANCE = 1  # static rate, fraction of notional
MARGIN_ARG_K = 2  # vol_scaled multiplier on the EWMA volatility
MARGIN_ARG_HORIZON = 3  # vol_scaled horizon_steps, steps
MARGIN_ARG_LAMBDA = 4  # EWMA decay lambda
MARGIN_ARG_INITIAL_VARIANCE = 5  # v_0, per-step variance
MARGIN_ARG_FLOOR = 6  # vol_scaled floor, fraction of notional
MARGIN_ARG_CAP = 7  # vol_scaled cap, fraction of notional
# EMIR Art. 28 anti-procyclicality options of vol_scaled (docs/model.md 3.1); 0: off.
MARGIN_ARG_APC_BUFFER = 8  # buffer b released in stress, fraction of the model rate
MARGIN_ARG_STRESSED_WEIGHT = 9  # weight w on the stressed volatility, fraction
MARGIN_ARG_STRESSED_VARIANCE = 10  # stressed per-step variance; negative: running max of v_t
MARGIN_ARG_VOL_FLOOR_VARIANCE = 11  # floor on the EWMA variance, per step
# Not the design but its measurement (docs/model.md 3.2): n of the largest n-step
# increase of m_t, steps; 0: the procyclicality columns are not written.
MARGIN_ARG_PROCYC_HORIZON = 12
N_MARGIN_ARGS = 13
# Accounts (docs/model.md 3.1, 11.3): with the APC volatility floor the vector goes on
# with one variance floor per asset, asset a's at MARGIN_ARG_ASSET_FLOORS + a (per step);
# without them every asset takes MARGIN_ARG_VOL_FLOOR_VARIANCE.
MARGIN_ARG_ASSET_FLOORS = N_MARGIN_ARGS

# Slots of a path's margin state under the APC options (kernels/margin.py apc_rate).
APC_STATE_STRESSED = 0  # running maximum of the floored variance, per step
APC_STATE_POSTED = 1  # the rate posted at the previous step (negative before step 0)
N_APC_STATE = 2

# The liquidation vector (float64, engine.plan.liquidation_arguments).
LIQUIDATION_ARG_LATENCY = 0  # latency_steps, steps (a whole number)
LIQUIDATION_ARG_SLIPPAGE = 1  # fraction of price
LIQUIDATION_ARG_FEE = 2  # penalty rate of the closed notional
LIQUIDATION_ARG_LIQUIDATOR_SHARE = 3  # fraction of the paid penalty
N_LIQUIDATION_ARGS = 4

# Random-stream identifiers (the second word of the Philox counter), so that
# different uses of randomness for the same path never share draws.
STREAM_GBM = 0
STREAM_GARCH = 1  # GARCH-family innovations (normal, Student-t, skewed t)
STREAM_BOOTSTRAP = 2  # stationary block bootstrap of historical returns
STREAM_FHS = 3  # filtered historical simulation: draws of standardized residuals
STREAM_GBM_MULTI = 4  # correlated multi-asset GBM (kernels/multi_paths.py)
STREAM_BOOTSTRAP_MULTI = 5  # joint block bootstrap of multi-asset returns
STREAM_FHS_MULTI = 6  # multi-asset FHS: draws of whole rows of joint standardized residuals

# GARCH-family variance models (kernels/garch.py).
VOL_GARCH = 0  # GARCH(1,1), also GJR with gamma = 0
VOL_GJR = 1  # GJR-GARCH(1,1,1): asymmetric term gamma eps^2 1{eps < 0}
VOL_EGARCH = 2  # EGARCH(1,1,1) in arch's form, recursion on ln sigma^2

# Innovation distributions (kernels/garch.py).
DIST_NORMAL = 0  # standard normal, Box-Muller pairs
DIST_T = 1  # Student-t standardized to unit variance, Bailey's method in trigonometric form
DIST_SKEWT = 2  # Hansen's skewed t (arch's SkewStudent), unit variance
DIST_EMPIRICAL = 3  # iid draws from a given array of standardized residuals (FHS)

# ----------------------------------------------------------------------------- stage columns
# Per-path columns that only some stages write. Every column has its own slot:
# no two stages share an index, so any set of stages can fill one row. A
# result names a column only when its stage is on (engine.result.metric_names).

# [market] (docs/model.md 9.4).
CASCADE_DEPTH = 12  # largest generation of liquidations caused by price impact, count
IMPACT_BAD_DEBT = 13  # bad debt minus the bad debt of the same path without impact, quote units
MARKET_METRIC_NAMES: tuple[str, ...] = ("cascade_depth", "impact_bad_debt")
N_METRICS_MARKET = IMPACT_BAD_DEBT + 1  # row width a kernel with [market] writes into

# [adl] (docs/model.md 10.2).
ADL_NOTIONAL = 14  # notional closed by auto-deleveraging, sum q_j P_t, quote units
ADL_COUNT = 15  # position reductions by auto-deleveraging, count
ADL_TOP1_SHARE = 16  # share of the ADL cover paid by the top 1% of deleveraged traders
ADL_TOP10_SHARE = 17  # share of the ADL cover paid by the top 10% of deleveraged traders
ADL_GINI = 18  # cover-weighted mean Gini of the haircut / profit over each event's candidates
ADL_METRIC_NAMES: tuple[str, ...] = (
    "adl_notional",
    "adl_count",
    "adl_top1_share",
    "adl_top10_share",
    "adl_gini",
)
N_METRICS_ADL = ADL_GINI + 1  # row width a kernel with [adl] writes into

# [procyclicality] (docs/model.md 3.2): the core kernel writes them.
MARGIN_PEAK_TO_TROUGH = 19  # max_t m_t / min_t m_t over the path, dimensionless
MARGIN_MAX_INCREASE = 20  # largest (m_{t+n} - m_t) / m_t, fraction
PROCYCLICAL_LIQUIDATIONS = 21  # positions flagged that would not breach at m_0 held, count
PROCYCLICAL_NOTIONAL = 22  # their closed notional sum q_i x_i, quote units
PROCYCLICALITY_METRIC_NAMES: tuple[str, ...] = (
    "margin_peak_to_trough",
    "margin_max_increase",
    "procyclical_liquidations",
    "procyclical_notional",
)
N_METRICS_PROCYCLICALITY = PROCYCLICAL_NOTIONAL + 1  # row width with [procyclicality]

# [backstop] (docs/model.md 10.3).
BACKSTOP_TAKEOVERS = 23  # positions taken over by the backstop vault, count
BACKSTOP_NOTIONAL = 24  # notional taken over, sum q O_t at the takeover step, quote units
BACKSTOP_PNL = 25  # the vault's realized P&L over the path, quote units
BACKSTOP_LOSS_PASSED = 26  # the vault's loss beyond its capital, passed to ADL / socialized, quote
BACKSTOP_MIN_EQUITY = 27  # lowest vault equity (capital + unrealized P&L at P~_t), quote units
BACKSTOP_EXHAUSTED = 28  # 1 if the vault's capital ran out (a loss was passed on), else 0
BACKSTOP_METRIC_NAMES: tuple[str, ...] = (
    "backstop_takeovers",
    "backstop_notional",
    "backstop_pnl",
    "backstop_loss_passed",
    "backstop_min_equity",
    "backstop_exhausted",
)
N_METRICS_BACKSTOP = BACKSTOP_EXHAUSTED + 1  # row width a kernel with [backstop] writes into

# [insurance_fund] pays_past_bankruptcy (docs/model.md 10.4).
FUND_PASSED_BAD_DEBT = 29  # bad debt beyond the fund's bound past bankruptcy, quote units
FUND_BOUND_METRIC_NAMES: tuple[str, ...] = ("fund_passed_bad_debt",)
N_METRICS_FUND_BOUND = FUND_PASSED_BAD_DEBT + 1  # row width a kernel with the bound writes into


# Lending markets (docs/model.md 13.6): columns of a lending run after the core ones.
COLLATERAL_SEIZED = 30  # collateral seized by liquidations at the oracle, quote units
LIQUIDATOR_PROFIT = 31  # liquidators' profit after pool and gas, quote units
UNPROFITABLE_DEBT = 32  # debt of loans left liquidatable at T as unprofitable, quote units
UNPROFITABLE_LOANS = 33  # loans left liquidatable at T as unprofitable, count
UNDERWATER_DEBT = 34  # debt not covered by collateral of open loans at T, quote units
LENDING_METRIC_NAMES: tuple[str, ...] = (
    "collateral_seized",
    "liquidator_profit",
    "unprofitable_debt",
    "unprofitable_loans",
    "underwater_debt",
)
N_METRICS_LENDING = UNDERWATER_DEBT + 1  # row width the lending kernel writes into

#: Row width that holds every column of every stage of the perps kernels (a lending
#: run's rows are N_METRICS_LENDING wide).
N_METRICS_ALL = FUND_PASSED_BAD_DEBT + 1

#: Every per-path column by name: its slot in a kernel's output row.
METRIC_INDEX: dict[str, int] = {
    **{name: index for index, name in enumerate(METRIC_NAMES)},
    "cascade_depth": CASCADE_DEPTH,
    "impact_bad_debt": IMPACT_BAD_DEBT,
    "adl_notional": ADL_NOTIONAL,
    "adl_count": ADL_COUNT,
    "adl_top1_share": ADL_TOP1_SHARE,
    "adl_top10_share": ADL_TOP10_SHARE,
    "adl_gini": ADL_GINI,
    "margin_peak_to_trough": MARGIN_PEAK_TO_TROUGH,
    "margin_max_increase": MARGIN_MAX_INCREASE,
    "procyclical_liquidations": PROCYCLICAL_LIQUIDATIONS,
    "procyclical_notional": PROCYCLICAL_NOTIONAL,
    **{name: BACKSTOP_TAKEOVERS + index for index, name in enumerate(BACKSTOP_METRIC_NAMES)},
    "fund_passed_bad_debt": FUND_PASSED_BAD_DEBT,
    "collateral_seized": COLLATERAL_SEIZED,
    "liquidator_profit": LIQUIDATOR_PROFIT,
    "unprofitable_debt": UNPROFITABLE_DEBT,
    "unprofitable_loans": UNPROFITABLE_LOANS,
    "underwater_debt": UNDERWATER_DEBT,
}

# Oracle models (docs/model.md 9.1); ORACLE_MARKET means no [oracle] table (O_t = P_t).
ORACLE_MARKET = 0
ORACLE_LAG = 1
ORACLE_EMA = 2
ORACLE_TWAP = 3

# Liquidation triggers (docs/model.md 9.3).
TRIGGER_MAINTENANCE = 0  # E < R at the oracle price
TRIGGER_PREDICTIVE = 1  # first-passage probability to the bankruptcy price above p*

# Penalty models (docs/model.md 9.2).
FEE_STATIC = 0
FEE_VOL_SCALED = 1

# Price-impact laws (docs/model.md 9.4).
IMPACT_NONE = 0
IMPACT_LINEAR = 1
IMPACT_SQRT = 2

# Slots of the float64 parameter vector of kernels/mechanics.py (integers stored as floats).
MECH_ORACLE_MODEL = 0  # ORACLE_* code
MECH_ORACLE_LAG = 1  # k, steps
MECH_ORACLE_EMA = 2  # a = ema_lambda, dimensionless
MECH_ORACLE_TWAP = 3  # w, points
MECH_MANIP_STEP = 4  # first manipulated step (negative: none)
MECH_MANIP_STEPS = 5  # manipulated steps
MECH_MANIP_SIZE = 6  # signed fraction of the oracle price
MECH_TRIGGER = 7  # TRIGGER_* code
MECH_TRIGGER_Z = 8  # z = -Phi^-1(p* / 2), dimensionless
MECH_TRIGGER_SQRT_H = 9  # sqrt(horizon), sqrt(steps)
MECH_FEE_MODEL = 10  # FEE_* code
MECH_FEE_BASE = 11  # fraction of closed notional
MECH_FEE_K = 12  # fraction of closed notional per unit of per-step volatility
MECH_FEE_MIN = 13  # fraction of closed notional
MECH_FEE_MAX = 14  # fraction of closed notional
MECH_VOL_LAMBDA = 15  # EWMA decay of sigma_t, dimensionless
MECH_VOL_V0 = 16  # EWMA variance at step 0, per step
MECH_IMPACT = 17  # IMPACT_* code
MECH_IMPACT_COEF = 18  # linear: 0.01 / depth (per quote unit); sqrt: coefficient
MECH_IMPACT_REF = 19  # sqrt: reference notional, quote units
MECH_PERMANENT = 20  # fraction of the impact that stays in later prices
MECH_IMPACT_MAX = 21  # largest impact of one step, log-price
MECH_ADL = 22  # ADL_* code: the ADL layer of the loss waterfall
MECH_PARTIAL = 23  # 1: partial liquidation closes to the target (docs/model.md 10.1), 0: full
MECH_BUFFER = 24  # partial liquidation's buffer b, fraction of notional
MECH_BACKSTOP = 25  # 1: the backstop vault takes over deep positions (docs/model.md 10.3), 0: off
MECH_BACKSTOP_CAPITAL = 26  # the vault's capital at the start of a path, quote units
MECH_BACKSTOP_FRACTION = 27  # takeover fraction k of the maintenance requirement, dimensionless
MECH_BACKSTOP_HOLD = 28  # steps the vault holds a position (negative: to the path's end), steps
MECH_FUND_BOUND = 29  # 1: the fund pays bad debt only up to a bound (docs/model.md 10.4), 0: all
MECH_FUND_BOUND_FRACTION = 30  # that bound per position, fraction f of the closed notional q x
MECH_MANIP_ASSET = 31  # index of the one manipulated asset of multi-asset paths; -1: every asset
MECH_PARTIAL_RULE = 32  # PARTIAL_RULE_* code of partial liquidation's close rule (10.1)
MECH_PARTIAL_FRACTION = 33  # rule 'fraction': share f of the current quantity closed, (0, 1]
MECH_PARTIAL_COOLDOWN = 34  # rule 'fraction': steps after a partial close that close in full
MECH_PARTIAL_MIN_NOTIONAL = 35  # rule 'fraction': at or below this notional, full, quote units
N_MECH = 36

# Close rules of partial liquidation (docs/model.md 10.1).
PARTIAL_RULE_TO_BUFFER = 0  # close down to the target (maintenance + buffer) at the mark
PARTIAL_RULE_FRACTION = 1  # close a fixed share, cool-down and notional threshold (venues)
PARTIAL_RULE_STEP_DOWN = 2  # accounts with brackets: each leg down to its bracket's floor (11.8)

# ADL policies (docs/model.md 10.2); ADL_NONE means no [adl] table.
ADL_NONE = 0
ADL_PROFIT_LEVERAGE = 1  # profit / collateral x notional / equity, closed at the mark
ADL_HYPERLIQUID = 2  # mark / entry x notional / account value, closed at the previous mark
ADL_PRO_RATA = 3  # every profitable opposite position gives up the same fraction of its profit

# The lending market vector (float64, engine.lending.market_arguments; docs/model.md 13).
LEND_CLOSE_FACTOR = 0  # fraction of the debt one liquidation may repay
LEND_FULL_BELOW_HF = 1  # health factor below which the whole debt may be repaid
LEND_SMALL_LOAN = 2  # debt value below which the whole debt may be repaid, quote units
LEND_GAS = 3  # gas per liquidation, quote units
LEND_POOL_DECAY = 4  # factor on a pool's unrefilled sales per step, 2^(-1/half_life)
LEND_SEIZE_ORDER = 5  # SEIZE_* code
LEND_ORACLE_DEVIATION = 6  # deviation threshold, fraction of price
LEND_ORACLE_HEARTBEAT = 7  # heartbeat, steps
LEND_BONUS_SLOPE = 8  # bonus ramp: bonus per unit of health factor below 1 (0: fixed bonus)
LEND_GAS_CRASH_SLOPE = 9  # congestion gas: gas multiple per unit of price fall (0: gas unscaled)
LEND_GAS_CRASH_ASSET = 10  # index of the path asset whose fall scales gas (-1: none)
LEND_GAS_CRASH_WINDOW = 11  # steps of the rolling high the fall is measured from
N_LEND_ARGS = 12

# Seize orders (docs/model.md 13.3).
SEIZE_HIGHEST_VALUE = 0
SEIZE_BOOK = 1
