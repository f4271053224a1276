"""Anomaly scorers: each turns a scan into per-point and object scores and declares its field.

- :mod:`casl_core.scorers.base`: :class:`ScanScores` and the :class:`Scorer` protocol;
- :mod:`casl_core.scorers.pooling`: per-point scores to one object score;
- :mod:`casl_core.scorers.curvature`: the training-free multi-scale curvature baseline;
- :mod:`casl_core.scorers.casl`: the fine-tuned CASL model.
"""
