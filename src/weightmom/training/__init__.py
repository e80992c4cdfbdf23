"""Training a network: the loop (loop), its recipe and augmentation, the masks that keep pruned
weights at zero, and checkpoints. Imports evaluation, models, data, provenance and the
foundation modules.
"""
