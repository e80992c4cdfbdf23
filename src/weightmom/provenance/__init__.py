"""Where a result came from, and writing it safely: atomic writes, file digests, the code digest
of each step, and the settings hash and code version stored beside every result.
Imports only the top-level foundation modules (errors, lineage, pruner_files).
"""
