"""Pruning methods against independent references and their invariants."""

import math

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from weightmom.errors import SpecError
from weightmom.masks import count_kept, count_total, full_masks
from weightmom.pruning import build_pruner, keep_counts
from weightmom.pruning.allocation import allocate, proportional_removal

WEIGHTMOM_OPTIONS = {"score": "momentum", "allocation": "relative", "beta": 0.5, "granularity": "round", "min_density": 0.0}


def _layers(seed=0):
    torch.manual_seed(seed)
    return nn.ModuleDict({"a": nn.Linear(30, 40), "b": nn.Linear(40, 20), "c": nn.Linear(20, 5)})


def _weights(layers):
    return {f"{name}.weight": layer.weight for name, layer in layers.items()}


def _generator():
    return torch.Generator().manual_seed(0)


def test_weightmom_with_beta_zero_and_uniform_allocation_is_layerwise_magnitude():
    layers = _layers()
    params = _weights(layers)
    weightmom = build_pruner("weightmom", {**WEIGHTMOM_OPTIONS, "beta": 0.0, "allocation": "uniform"})
    magnitude = build_pruner("magnitude", {"min_density": 0.0})
    state = weightmom.init_state(params)
    mom_masks = mag_masks = full_masks(params)
    counts = keep_counts(count_total(mom_masks), 10, 4, "geometric")
    for r in range(1, 5):
        with torch.no_grad():  # weights move between rounds, as fine-tuning would move them
            for p in params.values():
                p.add_(torch.randn_like(p) * 0.05)
        weightmom.observe(params, state)
        mom_masks = weightmom.prune(params, mom_masks, state, counts[r], _generator())
        mag_masks = magnitude.prune(params, mag_masks, {}, counts[r], _generator())
        assert all(torch.equal(mom_masks[n], mag_masks[n]) for n in params)
        assert count_kept(mom_masks) == counts[r]


def test_momentum_score_differs_from_magnitude_when_beta_positive():
    layers = _layers()
    params = _weights(layers)
    pruner = build_pruner("weightmom", {**WEIGHTMOM_OPTIONS, "beta": 0.9})
    state = pruner.init_state(params)
    with torch.no_grad():
        for p in params.values():
            p.mul_(-2.0)
    pruner.observe(params, state)
    for name, p in params.items():
        expected = 0.9 * (p.detach().abs() / 2) + 0.1 * p.detach().abs()
        assert torch.allclose(state[name], expected)


def test_magnitude_matches_torch_l1_unstructured():
    layers = _layers(1)
    params = _weights(layers)
    masks = build_pruner("magnitude", {"min_density": 0.0}).prune(params, full_masks(params), {}, 1000, _generator())
    for name, layer in layers.items():
        removed = layer.weight.numel() - int(masks[f"{name}.weight"].sum())
        torch_prune.l1_unstructured(layer, "weight", amount=removed)
        assert torch.equal(layer.weight_mask.bool(), masks[f"{name}.weight"])
        torch_prune.remove(layer, "weight")
    densities = [float(m.float().mean()) for m in masks.values()]
    assert max(densities) - min(densities) < 0.01  # layerwise: same sparsity everywhere


def test_global_magnitude_matches_torch_global_unstructured():
    layers = _layers(2)
    params = _weights(layers)
    masks = build_pruner("global_magnitude", {"min_density": 0.0}).prune(params, full_masks(params), {}, 700, _generator())
    total = count_total(masks)
    torch_prune.global_unstructured(
        [(layer, "weight") for layer in layers.values()], pruning_method=torch_prune.L1Unstructured, amount=total - 700
    )
    for name, layer in layers.items():
        assert torch.equal(layer.weight_mask.bool(), masks[f"{name}.weight"])


def test_relative_allocation_prunes_already_sparse_layers_less():
    dense, sparse = torch.ones(1000, dtype=torch.bool), torch.zeros(1000, dtype=torch.bool)
    sparse[:250] = True
    scores = [torch.rand(1000), torch.rand(1000)]
    keep = allocate("relative", scores, [dense, sparse], keep_total=1050, min_density=0.0)
    uniform = allocate("uniform", scores, [dense, sparse], keep_total=1050, min_density=0.0)
    assert sum(keep) == 1050 and sum(uniform) == 1050
    # removal budget 200 split 1000*4 : 250*1 (relative density times survivors)
    assert keep == [1000 - round(200 * 4000 / 4250), 250 - round(200 * 250 / 4250)]
    assert (250 - keep[1]) < (250 - uniform[1])


@pytest.mark.parametrize("allocation", ["uniform", "relative", "global"])
@pytest.mark.parametrize("seed", range(6))
def test_allocation_never_goes_below_min_density(allocation, seed):
    generator = torch.Generator().manual_seed(seed)
    sizes = [int(s) for s in torch.randint(5, 400, (5,), generator=generator)]
    masks = [torch.rand(n, generator=generator) < 0.3 + 0.7 * torch.rand(1, generator=generator) for n in sizes]
    scores = [torch.rand(n, generator=generator) * (10.0 if i == 0 else 1.0) for i, n in enumerate(sizes)]
    min_density = 0.1
    floor_total = sum(min(int(m.sum()), math.ceil(min_density * m.numel())) for m in masks)
    keep_total = floor_total + int((sum(int(m.sum()) for m in masks) - floor_total) * 0.2)
    keep = allocate(allocation, scores, masks, keep_total, min_density)
    assert sum(keep) == keep_total
    for mask, k in zip(masks, keep):
        assert k <= int(mask.sum())
        assert k >= min(int(mask.sum()), math.ceil(min_density * mask.numel()))


def test_unreachable_floor_is_an_error():
    masks = [torch.ones(100, dtype=torch.bool), torch.ones(100, dtype=torch.bool)]
    with pytest.raises(SpecError, match="min_density 0.2 keeps at least 40"):
        allocate("relative", [torch.rand(100), torch.rand(100)], masks, keep_total=10, min_density=0.2)


def test_proportional_removal_is_exact_and_capped():
    removal = proportional_removal(101, [1.0, 1.0, 1.0], [10, 100, 100])
    assert sum(removal) == 101 and removal[0] == 10 and abs(removal[1] - removal[2]) <= 1


def test_pruned_weights_never_return():
    layers = _layers(3)
    params = _weights(layers)
    pruner = build_pruner("random", {"min_density": 0.0})
    first = pruner.prune(params, full_masks(params), {}, 1500, _generator())
    second = pruner.prune(params, first, {}, 800, torch.Generator().manual_seed(5))
    assert all(not (second[n] & ~first[n]).any() for n in params)
    assert count_kept(second) == 800


@pytest.mark.parametrize("total", [97, 1000, 98_026, 14_728_266])
@pytest.mark.parametrize("compression", [2.0, 15.0, 37.5])
@pytest.mark.parametrize("schedule", ["geometric", "linear"])
def test_schedule_reaches_target_compression_to_one_weight(total, compression, schedule):
    counts = keep_counts(total, compression, 7, schedule)
    assert counts[0] == total
    assert abs(counts[-1] - total / compression) <= 0.5
    assert all(a >= b for a, b in zip(counts, counts[1:]))


def test_geometric_schedule_keeps_the_same_fraction_each_round():
    counts = keep_counts(1_000_000, 15, 5, "geometric")
    ratios = [b / a for a, b in zip(counts, counts[1:])]
    assert max(ratios) - min(ratios) < 1e-4
    assert ratios[0] == pytest.approx(15 ** (-1 / 5), abs=1e-5)


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("weightmom", {**WEIGHTMOM_OPTIONS, "betta": 0.1}, "betta"),
        ("magnitude", {"min_density": 1.5}, "min_density"),
        ("nosuch", {}, "unknown pruner 'nosuch'"),
        ("weightmom", {**WEIGHTMOM_OPTIONS, "beta": 1.5}, "beta"),
    ],
)
def test_bad_pruner_settings_name_the_culprit(name, options, message):
    with pytest.raises(SpecError, match=message):
        build_pruner(name, options)
