"""WeightMom: iterative momentum-based pruning and the baselines it is compared with."""

__version__ = "0.1.0"
