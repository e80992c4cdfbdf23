"""Small networks for the 8x8 digits demo: fast on a laptop CPU, far above 90% top-1.
Layers are named (conv1, fc1, ...), so tables and figures can say which layer is which."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from weightmom.models.registry import register_model


@register_model("mlp")
def mlp(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            [
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(math.prod(input_shape), 256)),
                ("relu1", nn.ReLU(inplace=True)),
                ("fc2", nn.Linear(256, 128)),
                ("relu2", nn.ReLU(inplace=True)),
                ("fc3", nn.Linear(128, num_classes)),
            ]
        )
    )


def _conv_bn(index: int, in_channels: int, out_channels: int) -> list[tuple[str, nn.Module]]:
    return [
        (f"conv{index}", nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)),
        (f"bn{index}", nn.BatchNorm2d(out_channels)),
        (f"relu{index}", nn.ReLU(inplace=True)),
    ]


@register_model("cnn")
def cnn(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    return nn.Sequential(
        OrderedDict(
            [
                *_conv_bn(1, channels, 32),
                *_conv_bn(2, 32, 64),
                ("pool", nn.MaxPool2d(2)),
                *_conv_bn(3, 64, 128),
                ("avgpool", nn.AdaptiveAvgPool2d(2)),
                ("flatten", nn.Flatten()),
                ("fc", nn.Linear(128 * 4, num_classes)),
            ]
        )
    )
