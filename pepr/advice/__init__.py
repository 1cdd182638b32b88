"""Which model to train: the advice from measured runs, and its backtest on held-out datasets."""
