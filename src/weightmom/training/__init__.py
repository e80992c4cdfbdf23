"""Training a network: the loop (loop), its recipe and augmentation, the masks that keep
pruned weights at zero, checkpoints, and the copy of a dense run another experiment already
made (reuse). Imports evaluation, models, data, provenance and the foundation modules.
"""
