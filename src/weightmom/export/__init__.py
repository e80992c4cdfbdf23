"""Deployable files from a pruned checkpoint: the sparse file format and its loader, ONNX
export and CPU latency. Imports pruning and everything below it, never runtime or reporting.
"""
