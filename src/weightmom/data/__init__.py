"""Datasets: where they come from (sources, download), how they are prepared (datasets) and read
back as tensors (splits). Imports provenance and the top-level foundation modules.
"""
