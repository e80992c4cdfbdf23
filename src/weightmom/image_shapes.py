"""Image shapes known before any data is read, and the smallest images each model takes.
No torch here: the config check uses it to refuse, before any job, a model that cannot run
on a dataset's images (AlexNet on 8x8 digits). Where the size is known only once the data is
prepared, the first training job's forward pass on a blank image says the same
(weightmom.steps.common.check_input_fits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Image shape, classes and training-split size of the sources whose size is known before
#: they are read; imagefolder datasets are known once prepared (or by their `resize`).
SOURCE_SHAPES: dict[str, tuple[tuple[int, int, int], int, int]] = {
    "digits": ((1, 8, 8), 10, 1797),
    "cifar10": ((3, 32, 32), 10, 50_000),
    "cifar100": ((3, 32, 32), 100, 50_000),
}

#: The smallest square image side a model's layers leave a non-empty feature map for:
#: AlexNet's stride-4 convolution and two 2x2 poolings need 13 pixels, VGG16's five 2x2
#: poolings 32 (tests/test_models.py builds each at its minimum and one pixel below).
#: Models not named take any size.
MIN_IMAGE_SIDE: dict[str, int] = {"alexnet": 13, "vgg16_bn": 32}


def image_side(spec: Mapping[str, Any]) -> int | None:
    """The side of a dataset's images from its config entry, None when known only once
    prepared (an imagefolder without `resize`)."""
    if spec.get("source") in SOURCE_SHAPES:
        return SOURCE_SHAPES[spec["source"]][0][1]
    return spec.get("resize")


def too_small(model: str, height: int, width: int) -> str | None:
    """Why `model` cannot take height x width images, or None when it can."""
    side = MIN_IMAGE_SIDE.get(model, 1)
    if min(height, width) >= side:
        return None
    return f"model {model!r} needs images of at least {side}x{side} pixels; these are {height}x{width}"
