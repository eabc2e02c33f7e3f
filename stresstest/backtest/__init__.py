"""Margin coverage backtest over historical prices (Kupiec and Christoffersen tests)."""
