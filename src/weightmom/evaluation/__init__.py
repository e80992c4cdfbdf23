"""Measuring a network: top-1 accuracy, FLOPs and predictions (accuracy), the Parquet metric
files every step writes (metrics, their rows built without pandas by rows) and the
per-epoch curves (curves). Imports data, models, provenance and the top-level foundation
modules.
"""
