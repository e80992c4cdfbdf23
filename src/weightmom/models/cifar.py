"""The paper's networks adapted to 32x32 inputs, and the standard CIFAR ResNets.

torchvision's definitions are reused where they fit (VGG16-BN features, ResNet50); the
CIFAR-specific AlexNet and ResNet-20/56 follow the widely used CIFAR variants:
    alexnet    2.47M parameters on CIFAR-10 (5 conv + 1 linear, as in bearpaw/pytorch-classification)
    vgg16_bn   14.73M (torchvision features, one 512 -> classes linear layer)
    resnet50   23.52M (torchvision ResNet50, 3x3 stride-1 stem, no max-pool)
    resnet20   0.27M, resnet56 0.85M (He et al. 2016, option-A shortcuts)
torchvision is imported inside the builders so the digits demo does not pay for it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from weightmom.models.registry import register_model


@register_model("alexnet")
def alexnet(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    channels = input_shape[0]
    return nn.Sequential(
        nn.Conv2d(channels, 64, kernel_size=11, stride=4, padding=5),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(256, num_classes),
    )


@register_model("vgg16_bn")
def vgg16_bn(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    from torchvision.models.vgg import cfgs, make_layers

    features = make_layers(cfgs["D"], batch_norm=True)
    if input_shape[0] != 3:
        features[0] = nn.Conv2d(input_shape[0], 64, kernel_size=3, padding=1)
    return nn.Sequential(features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes))


@register_model("resnet50")
def resnet50(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    from torchvision.models import resnet50 as torchvision_resnet50

    model = torchvision_resnet50(num_classes=num_classes)
    model.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


class _BasicBlock(nn.Module):
    """He et al.'s CIFAR block; option A: the shortcut subsamples and zero-pads channels."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.pad = planes - in_planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = F.pad(
                x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2)
            )
        return F.relu(out + shortcut)


class CifarResNet(nn.Module):
    def __init__(self, depth: int, in_channels: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        blocks = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for index in range(blocks):
                stages.append(_BasicBlock(in_planes, planes, stride if index == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*stages)
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


@register_model("resnet20")
def resnet20(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return CifarResNet(20, input_shape[0], num_classes)


@register_model("resnet56")
def resnet56(input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    return CifarResNet(56, input_shape[0], num_classes)
