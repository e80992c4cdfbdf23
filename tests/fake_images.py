"""Image folders in the imagefolder source's layout (root/{train,test}/<class>/*.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def image_folder(root: Path, classes=("cat", "dog"), per_class=3, size=(32, 32), test_classes=None) -> Path:
    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for name in names:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root
