"""Masks hold under momentum SGD with weight decay, with no hooks on the model."""

import torch
from torch import nn

from weightmom.models import build_model, prunable_parameters
from weightmom.training.loop import train
from weightmom.training.masks import MaskEnforcer, count_kept, full_masks
from weightmom.training.recipe import Recipe

RECIPE = Recipe(epochs=2, batch_size=32, lr=0.1, momentum=0.9, weight_decay=5e-3, lr_schedule="constant")


def _random_masks(params, keep=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(p.shape, generator=generator) < keep for name, p in params.items()}


def test_pruned_weights_and_momentum_are_exactly_zero_after_every_step(digits_train):
    torch.manual_seed(0)
    model = build_model("cnn", digits_train.input_shape, digits_train.num_classes)
    params = prunable_parameters(model)
    masks = _random_masks(params)
    enforcer = MaskEnforcer(params, masks)
    start = {n: p.detach().clone() for n, p in params.items()}
    checked_steps = []

    def check():
        checked_steps.append(all(bool((p.detach()[~masks[n]] == 0.0).all()) for n, p in params.items()))

    train(model, digits_train, RECIPE, seed=0, enforcer=enforcer, on_step=check)
    assert len(checked_steps) == 2 * -(-digits_train.labels.numel() // 32)
    assert all(checked_steps)
    # the surviving weights did train
    assert all(not torch.equal(p.detach()[masks[n]], start[n][masks[n]]) for n, p in params.items())


def test_momentum_buffers_are_masked_too():
    layer = nn.Linear(20, 10)
    params = {"weight": layer.weight}
    masks = {"weight": torch.rand(10, 20, generator=torch.Generator().manual_seed(1)) < 0.5}
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    enforcer = MaskEnforcer(params, masks)
    for _ in range(5):
        optimizer.zero_grad()
        layer(torch.randn(8, 20)).pow(2).sum().backward()
        optimizer.step()
        enforcer.apply(optimizer)
        buffer = optimizer.state[layer.weight]["momentum_buffer"]
        assert (layer.weight.detach()[~masks["weight"]] == 0).all()
        assert (buffer[~masks["weight"]] == 0).all()
        assert (buffer[masks["weight"]] != 0).all()


def test_enforcer_adds_no_hooks():
    model = build_model("mlp", (1, 8, 8), 10)
    params = prunable_parameters(model)
    MaskEnforcer(params, full_masks(params)).apply()
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_prunable_parameters_are_conv_and_linear_weights_only():
    model = build_model("cnn", (1, 8, 8), 10)
    names = set(prunable_parameters(model))
    assert names and all(name.endswith(".weight") for name in names)
    conv_linear = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert names == conv_linear
    assert count_kept(full_masks(prunable_parameters(model))) == sum(
        p.numel() for p in prunable_parameters(model).values()
    )
