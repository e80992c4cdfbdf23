"""Batched data augmentation on uint8 image tensors: no per-image Python.

Random crop with zero padding and horizontal flip, the standard CIFAR augmentation, done
as one gather and one `where` over the whole batch, on the batch's device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from weightmom.training.recipe import Augment


def augment_batch(images: torch.Tensor, augment: Augment, generator: torch.Generator) -> torch.Tensor:
    """Augment a uint8 batch (B, C, H, W); random draws come from a CPU `generator`."""
    batch, channels, height, width = images.shape
    device = images.device
    if augment.crop_padding:
        pad = augment.crop_padding
        padded = F.pad(images, (pad, pad, pad, pad))
        offset_y = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(device)
        offset_x = torch.randint(0, 2 * pad + 1, (batch,), generator=generator).to(device)
        rows = (offset_y[:, None] + torch.arange(height, device=device))[:, None, :, None]
        cols = (offset_x[:, None] + torch.arange(width, device=device))[:, None, None, :]
        index_b = torch.arange(batch, device=device)[:, None, None, None]
        index_c = torch.arange(channels, device=device)[None, :, None, None]
        images = padded[index_b, index_c, rows, cols]
    if augment.horizontal_flip:
        flip = (torch.rand(batch, generator=generator) < 0.5).to(device)
        images = torch.where(flip[:, None, None, None], images.flip(3), images)
    return images
