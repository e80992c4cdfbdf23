"""Pruning methods against independent references and their invariants."""

import math
import random

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

from weightmom.errors import SpecError
from weightmom.models import build_model, prunable_parameters
from weightmom.pruning import ScoringContext, build_pruner, keep_counts
from weightmom.pruning.allocation import ALLOCATIONS, allocate, bounded_proportional, proportional_removal
from weightmom.training.masks import count_kept, count_total, full_masks

WEIGHTMOM_OPTIONS = {
    "score": "momentum",
    "allocation": "levelling",
    "beta": 0.5,
    "granularity": "round",
    "min_density": 0.0,
}


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
        mom_masks = weightmom.prune(ScoringContext(params, mom_masks, state, _generator()), counts[r])
        mag_masks = magnitude.prune(ScoringContext(params, mag_masks, {}, _generator()), counts[r])
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
    context = ScoringContext(params, full_masks(params), {}, _generator())
    masks = build_pruner("magnitude", {"min_density": 0.0}).prune(context, 1000)
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
    context = ScoringContext(params, full_masks(params), {}, _generator())
    masks = build_pruner("global_magnitude", {"min_density": 0.0}).prune(context, 700)
    total = count_total(masks)
    torch_prune.global_unstructured(
        [(layer, "weight") for layer in layers.values()], pruning_method=torch_prune.L1Unstructured, amount=total - 700
    )
    for name, layer in layers.items():
        assert torch.equal(layer.weight_mask.bool(), masks[f"{name}.weight"])


def test_levelling_allocation_prunes_already_sparse_layers_less():
    dense, sparse = torch.ones(1000, dtype=torch.bool), torch.zeros(1000, dtype=torch.bool)
    sparse[:250] = True
    scores = [torch.rand(1000), torch.rand(1000)]
    keep = allocate("levelling", scores, [dense, sparse], keep_total=1050, min_density=0.0)
    uniform = allocate("uniform", scores, [dense, sparse], keep_total=1050, min_density=0.0)
    assert sum(keep) == 1050 and sum(uniform) == 1050
    # removal budget 200 split 1000*4 : 250*1 (relative density times survivors)
    assert keep == [1000 - round(200 * 4000 / 4250), 250 - round(200 * 250 / 4250)]
    assert (250 - keep[1]) < (250 - uniform[1])


@pytest.mark.parametrize("allocation", ALLOCATIONS)
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


def _trained_looking_resnet20():
    """ResNet-20's real layer shapes, with weights that moved as fine-tuning moves them."""
    torch.manual_seed(0)
    model = build_model("resnet20", (3, 32, 32), 10)
    return prunable_parameters(model)


NEW_READINGS = [
    {"allocation": "score_budget"},
    {"allocation": "score_budget", "density_exponent": 0.0},
    {"allocation": "score_budget", "statistic": "optimizer_momentum"},
    {"allocation": "global_scaled"},
    {"allocation": "global_scaled", "density_exponent": 0.0},
]


@pytest.mark.parametrize("options", NEW_READINGS, ids=lambda o: "-".join(map(str, o.values())))
def test_each_new_reading_is_non_uniform_from_a_dense_start_and_keeps_exact_counts(options):
    params = _trained_looking_resnet20()
    momentum = {name: torch.randn_like(p) * p.detach().abs() for name, p in params.items()}
    pruner = build_pruner("weightmom", options)
    state = pruner.init_state(params)
    masks = full_masks(params)
    counts = keep_counts(count_total(masks), 15, 3, "geometric")
    for r in (1, 2, 3):
        pruner.observe(params, state)
        new = pruner.prune(ScoringContext(params, masks, state, _generator(), momentum), counts[r])
        assert count_kept(new) == counts[r]
        assert all(not (new[n] & ~masks[n]).any() for n in params), "a pruned weight came back"
        for name, mask in new.items():
            assert int(mask.sum()) >= min(int(masks[name].sum()), math.ceil(0.02 * mask.numel()))
        densities = [float(m.float().mean()) for m in new.values()]
        if r == 1:
            assert max(densities) - min(densities) > 0.1, f"round 1 is uniform: {densities}"
        masks = new
        with torch.no_grad():
            for name, p in params.items():
                p.add_(torch.randn_like(p) * 0.01).mul_(masks[name])


def test_levelling_is_uniform_from_a_dense_start():
    """Why v1 was renamed: from a dense start it gives every layer the same density."""
    params = _trained_looking_resnet20()
    pruner = build_pruner("weightmom", {"allocation": "levelling", "min_density": 0.0})
    masks = full_masks(params)
    masks = pruner.prune(
        ScoringContext(params, masks, pruner.init_state(params), _generator()), count_total(masks) // 3
    )
    densities = [float(m.float().mean()) for m in masks.values()]
    assert max(densities) - min(densities) < 0.001


def test_score_budget_gives_the_layer_with_the_larger_mean_score_more():
    masks = [torch.ones(1000, dtype=torch.bool), torch.ones(1000, dtype=torch.bool)]
    scores = [torch.full((1000,), 3.0), torch.full((1000,), 1.0)]
    keep = allocate("score_budget", scores, masks, keep_total=800, min_density=0.0, exponent=1.0)
    # dense start: rho = 1, keep in proportion to k_l * s_l = 1000 * 1.5 : 1000 * 0.5
    assert keep == [600, 200]


def test_score_budget_exponent_protects_the_sparser_layer():
    dense, sparse = torch.ones(1000, dtype=torch.bool), torch.zeros(1000, dtype=torch.bool)
    sparse[:250] = True
    scores = [torch.ones(1000), torch.ones(1000)]
    plain = allocate("score_budget", scores, [dense, sparse], keep_total=625, min_density=0.0, exponent=0.0)
    scaled = allocate("score_budget", scores, [dense, sparse], keep_total=625, min_density=0.0, exponent=1.0)
    assert plain == [500, 125]  # keep in proportion to survivors: both lose half
    assert scaled[1] > plain[1]


def test_global_scaled_with_zero_exponent_is_the_global_ranking():
    generator = torch.Generator().manual_seed(3)
    masks = [torch.rand(300, generator=generator) < p for p in (0.9, 0.5, 0.2)]
    scores = [torch.rand(300, generator=generator) * scale for scale in (1.0, 2.0, 0.5)]
    assert allocate("global_scaled", scores, masks, 200, 0.0, exponent=0.0) == allocate(
        "global", scores, masks, 200, 0.0
    )
    scaled = allocate("global_scaled", scores, masks, 200, 0.0, exponent=1.0)
    assert scaled[2] > allocate("global", scores, masks, 200, 0.0)[2]  # the sparsest layer is protected


def test_bounded_proportional_is_exact_within_bounds():
    counts = bounded_proportional(100, [5.0, 1.0, 1.0, 0.0], lower=[0, 10, 3, 4], upper=[50, 60, 60, 4])
    assert sum(counts) == 100 and counts[0] == 50 and counts[3] == 4
    assert all(lo <= c <= hi for c, lo, hi in zip(counts, [0, 10, 3, 4], [50, 60, 60, 4]))


@pytest.mark.parametrize("seed", range(300))
def test_bounded_proportional_sums_exactly_for_any_feasible_total(seed):
    rng = random.Random(seed)
    size = rng.randint(1, 8)
    lower = [rng.randint(0, 50) for _ in range(size)]
    upper = [lo + rng.randint(0, 500) for lo in lower]
    weights = [rng.choice([0.0, rng.random() * 10]) for _ in range(size)]  # some layers weigh nothing
    total = rng.randint(sum(lower), sum(upper))
    counts = bounded_proportional(total, weights, lower, upper)
    assert sum(counts) == total
    assert all(lo <= c <= hi for c, lo, hi in zip(counts, lower, upper))


def test_optimizer_momentum_statistic_needs_the_buffers():
    params = _weights(_layers())
    pruner = build_pruner("weightmom", {"allocation": "score_budget", "statistic": "optimizer_momentum"})
    with pytest.raises(SpecError, match="momentum buffers"):
        pruner.prune(ScoringContext(params, full_masks(params), pruner.init_state(params), _generator(), {}), 1000)


def test_unreachable_floor_is_an_error():
    masks = [torch.ones(100, dtype=torch.bool), torch.ones(100, dtype=torch.bool)]
    with pytest.raises(SpecError, match="min_density 0.2 keeps at least 40"):
        allocate("levelling", [torch.rand(100), torch.rand(100)], masks, keep_total=10, min_density=0.2)


def test_proportional_removal_is_exact_and_capped():
    removal = proportional_removal(101, [1.0, 1.0, 1.0], [10, 100, 100])
    assert sum(removal) == 101 and removal[0] == 10 and abs(removal[1] - removal[2]) <= 1


def test_pruned_weights_never_return():
    layers = _layers(3)
    params = _weights(layers)
    pruner = build_pruner("random", {"min_density": 0.0})
    first = pruner.prune(ScoringContext(params, full_masks(params), {}, _generator()), 1500)
    second = pruner.prune(ScoringContext(params, first, {}, torch.Generator().manual_seed(5)), 800)
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
        ("weightmom", {"allocation": "relative"}, "relative"),
        (
            "weightmom",
            {"allocation": "uniform", "density_exponent": 1.0},
            "option density_exponent: 1.0 is not allowed together",
        ),
        (
            "weightmom",
            {"allocation": "global_scaled", "statistic": "optimizer_momentum"},
            "option statistic: 'optimizer_momentum' is not allowed",
        ),
    ],
)
def test_bad_pruner_settings_name_the_culprit(name, options, message):
    with pytest.raises(SpecError, match=message):
        build_pruner(name, options)
