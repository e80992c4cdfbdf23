"""The paper's networks: published parameter counts, prunable sets and FLOPs."""

import pytest
import torch
from torch import nn

from weightmom.evaluation.accuracy import layer_flops
from weightmom.image_shapes import MIN_IMAGE_SIDE
from weightmom.models import build_model, prunable_parameters

# Published CIFAR-10 parameter counts (He et al. 2016 for ResNet-20/56; the common CIFAR
# variants of AlexNet, VGG16-BN and ResNet50).
PUBLISHED = {
    "resnet20": (0.27e6, 269_722),
    "resnet56": (0.85e6, 853_018),
    "alexnet": (2.47e6, 2_472_266),
    "vgg16_bn": (14.73e6, 14_728_266),
    "resnet50": (23.52e6, 23_520_842),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_match_the_published_ones(name):
    rounded, exact = PUBLISHED[name]
    model = build_model(name, (3, 32, 32), 10)
    count = sum(p.numel() for p in model.parameters())
    assert count == exact
    assert abs(count - rounded) / rounded < 0.01
    hundred = sum(p.numel() for p in build_model(name, (3, 32, 32), 100).parameters())
    classifier_in = [m for m in model.modules() if isinstance(m, nn.Linear)][-1].in_features
    assert hundred - count == 90 * (classifier_in + 1)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_prunable_parameters_are_conv_and_linear_weights(name):
    model = build_model(name, (3, 32, 32), 10)
    prunable = prunable_parameters(model)
    expected = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert set(prunable) == expected
    norms_and_biases = {n for n, p in model.named_parameters() if p.dim() == 1}
    assert not norms_and_biases & set(prunable)


@pytest.mark.parametrize("name, published_mflops", [("resnet20", 40.6), ("resnet56", 125.5), ("vgg16_bn", 313.5)])
def test_flops_match_published_counts(name, published_mflops):
    model = build_model(name, (3, 32, 32), 10)
    total = sum(layer_flops(model, (3, 32, 32), torch.device("cpu")).values())
    assert total / 1e6 == pytest.approx(published_mflops, rel=0.02)


@pytest.mark.parametrize("name", sorted(MIN_IMAGE_SIDE))
def test_the_smallest_image_a_model_takes_is_its_declared_minimum(name):
    """The config check refuses smaller images by this table; it must be what the layers do."""
    side = MIN_IMAGE_SIDE[name]
    build_model(name, (3, side, side), 10).eval()(torch.zeros(1, 3, side, side))
    with pytest.raises(RuntimeError):
        build_model(name, (3, side - 1, side - 1), 10).eval()(torch.zeros(1, 3, side - 1, side - 1))
