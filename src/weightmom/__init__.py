"""WeightMom: iterative momentum-based pruning and the baselines it is compared with.

The package reads like the pipeline. Each stage is a subpackage and may import the stages
listed before it, never one after it (tests/test_layout.py checks):

    foundations   the modules at this level (errors, lineage, image_shapes,
                  schema_defaults, pruner_files): torch-free names every stage shares
    provenance    atomic writes, file digests, code digests, settings hashes
    data          dataset sources, download, preparation, splits
    models        the network registry
    evaluation    accuracy and FLOPs, the Parquet metric files, training curves
    training      the training loop, recipe, augmentation, masks, checkpoints
    pruning       schedules, layer allocation, the methods
    export        sparse files, ONNX, CPU latency
    runtime       devices, GPU slots, the training plan, cost projection, preflight
    reporting     tables, figures, claims, the paper table, show, compare
    steps         one module per pipeline step, called by the CLI
    cli           `weightmom ...` / `python -m weightmom ...`, which the workflow's rules run

The public names for using an exported network are importable from here:
`load_sparse_model`, `sparse_info` and `preprocess` (from weightmom.export.sparse_file),
loaded on first use so that `import weightmom` stays free of torch.
"""

__version__ = "0.1.0"

_PUBLIC = {name: "weightmom.export.sparse_file" for name in ("load_sparse_model", "sparse_info", "preprocess")}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'weightmom' has no attribute {name!r}")
