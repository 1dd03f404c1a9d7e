"""Indicators: batched torch kernels with TA-Lib parity, and the TA-Lib catalogue as features.

* ``torchtrader.indicators.kernels`` — ``sma``, ``ema``, ``rsi``, ``macd``, ``bbands``, ``donchian`` …
  on ``[T]`` / ``[B, T]`` tensors with per-combo periods (what sweeps and strategies call);
* ``torchtrader.indicators.catalogue`` — ``FeatureSpec`` / ``FeatureSet`` / ``load_feature_set`` /
  ``compute_features``: every ``talib.get_functions()`` entry as a declared feature;
* ``torchtrader.indicators.parity`` — each kernel's TA-Lib twin and the comparison used by the tests
  and the benchmark.
"""
