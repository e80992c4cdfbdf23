"""SNIP against a hand computation, its seeding, and a SNIP round through the pruning step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from weightmom.data.splits import Split, load_split
from weightmom.errors import SpecError
from weightmom.models import prunable_parameters
from weightmom.pruning import ScoringContext, TrainingBatches, build_pruner, keep_counts
from weightmom.steps.prune import prune_round
from weightmom.training.checkpoint import load_checkpoint
from weightmom.training.masks import count_total, full_masks

RECIPE = {"epochs": 1, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


def _split(images, labels, classes=3):
    """A split whose normalisation is x / 255 (mean 0, std 1)."""
    return Split(
        torch.tensor(images, dtype=torch.uint8),
        torch.tensor(labels),
        tuple(str(c) for c in range(classes)),
        torch.zeros(1),
        torch.ones(1),
    )


def _linear(weight):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor(weight))
    return model


def _context(model, masks, split, batch_size, seed=0):
    return ScoringContext(
        params=prunable_parameters(model),
        masks=masks,
        network=model,
        training=TrainingBatches(split, batch_size, seed),
    )


def _hand_scores(weight, mask, images, labels):
    """|dL/dW * W| for logits = (W * M) x and the mean cross-entropy, in closed form:
    dL/dW = (softmax(logits) - onehot(labels))^T X / N (float64, numpy)."""
    x = np.asarray(images, dtype=np.float64).reshape(len(labels), -1) / 255.0
    masked = np.asarray(weight, dtype=np.float64) * np.asarray(mask)
    logits = x @ masked.T
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    onehot = np.eye(masked.shape[0])[labels]
    gradient = (probabilities - onehot).T @ x / len(labels)
    return np.abs(gradient * masked)


WEIGHT = [[0.9, -1.4, 0.3, 2.0], [-0.7, 0.2, 1.1, -0.5], [1.6, 0.8, -1.2, 0.4]]
IMAGES = [[[[200, 10], [30, 255]]], [[[0, 120], [250, 60]]], [[[90, 90], [180, 5]]], [[[255, 255], [0, 40]]]]
LABELS = [2, 0, 1, 0]


def test_snip_scores_are_the_gradient_times_the_weight_by_hand():
    model = _linear(WEIGHT)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, 2] = mask[2, 1] = False  # pruned: their weights take no part in the loss
    split = _split(IMAGES, LABELS)
    context = _context(model, {"1.weight": mask}, split, batch_size=4)
    scores = build_pruner("snip", {}).scores(context)["1.weight"]
    expected = _hand_scores(WEIGHT, mask.numpy(), IMAGES, LABELS)
    assert np.allclose(scores.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert scores[0, 2] == 0 and scores[2, 1] == 0
    # the mask keeps the 5 highest-scoring survivors, the hand computation's 5 highest
    masks = build_pruner("snip", {}).prune(context, 5)
    ranked = np.argsort(-np.where(mask.numpy(), expected, -np.inf), axis=None)[:5]
    hand_mask = np.zeros(12, dtype=bool)
    hand_mask[ranked] = True
    assert masks["1.weight"].flatten().tolist() == hand_mask.tolist()
    assert not (masks["1.weight"] & ~mask).any(), "a pruned weight came back"
    # the round's own network is untouched: the pruned weights keep their values, no gradients
    assert torch.equal(model[1].weight.detach(), torch.tensor(WEIGHT)) and model[1].weight.grad is None


def test_snip_over_two_batches_takes_the_gradient_of_the_mean_loss():
    model = _linear(WEIGHT)
    masks = {"1.weight": torch.ones(3, 4, dtype=torch.bool)}
    split = _split(IMAGES, LABELS)
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0 * 100_003)).tolist()  # training's epoch 0
    first, second = order[:2], order[2:]
    scores = build_pruner("snip", {"batches": 2}).scores(_context(model, masks, split, batch_size=2))["1.weight"]
    gradient_sum = sum(
        _hand_scores(WEIGHT, np.ones((3, 4)), [IMAGES[i] for i in half], [LABELS[i] for i in half])
        for half in (first, second)
    )
    # |w| * |g1 + g2| / 2 differs from the sum of the |w * g| halves; all four images in one batch is the mean loss
    assert np.allclose(scores.numpy(), _hand_scores(WEIGHT, np.ones((3, 4)), IMAGES, LABELS), rtol=1e-5, atol=1e-7)
    one_batch = build_pruner("snip", {}).scores(_context(model, masks, split, batch_size=2))["1.weight"]
    first_batch = _hand_scores(WEIGHT, np.ones((3, 4)), [IMAGES[i] for i in first], [LABELS[i] for i in first])
    assert np.allclose(one_batch.numpy(), first_batch, rtol=1e-5, atol=1e-7)
    assert not np.allclose(scores.numpy(), gradient_sum / 2)


def test_training_batches_are_seeded():
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (50, 1, 2, 2), generator=generator).numpy()
    split = _split(images, torch.randint(0, 3, (50,), generator=generator).tolist())
    first = [labels.tolist() for _, labels in TrainingBatches(split, 8, seed=4)(3)]
    assert first == [labels.tolist() for _, labels in TrainingBatches(split, 8, seed=4)(3)]
    assert first != [labels.tolist() for _, labels in TrainingBatches(split, 8, seed=5)(3)]
    assert [len(labels) for labels in first] == [8, 8, 8]
    assert [len(labels) for _, labels in TrainingBatches(split, 8, seed=4)(100)] == [8] * 6 + [2]  # one pass at most


def test_snip_masks_are_reproducible_for_a_seed(digits_train):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    masks = full_masks(prunable_parameters(model))
    snip = build_pruner("snip", {"batches": 2})
    same = [snip.prune(_context(model, masks, digits_train, 16, seed=3), 500) for _ in range(2)]
    other = snip.prune(_context(model, masks, digits_train, 16, seed=4), 500)
    assert all(torch.equal(same[0][n], same[1][n]) for n in masks)
    assert any(not torch.equal(same[0][n], other[n]) for n in masks)


def test_snip_without_training_data_is_a_clear_error():
    params = {"w": torch.ones(4)}
    with pytest.raises(SpecError, match="scores on training data, but the pruning round gave it none"):
        build_pruner("snip", {}).prune(ScoringContext(params, full_masks(params)), 2)
    split = _split(IMAGES, LABELS)
    with pytest.raises(SpecError, match="scores with the network, but the pruning round gave it none"):
        build_pruner("snip", {}).prune(
            ScoringContext(params, full_masks(params), training=TrainingBatches(split, 4, 0)), 2
        )
    with pytest.raises(SpecError, match="option batches"):
        build_pruner("snip", {"batches": 0})


def test_a_snip_round_scores_the_previous_network_on_the_rounds_seeded_batches(dense_mlp, digits_dir, tmp_path):
    pruning = {"target_compression": 4, "rounds": 2, "schedule": "geometric"}
    prune_round(
        checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        method="snip",
        pruner_name="snip",
        pruner_options={"batches": 2},
        pruning=pruning,
        round_index=1,
        recipe=RECIPE,
        device="cpu",
        out=tmp_path / "round1.pt",
    )
    dense = load_checkpoint(dense_mlp)
    network = dense.build()
    keep = keep_counts(count_total(dense.masks), 4, 2, "geometric")[1]
    # seed 0, round 1: batches of the fine-tuning batch size in the order of seed 0 * 1000 + 1
    context = _context(network, dense.masks, load_split(digits_dir / "train.npz"), RECIPE["batch_size"], seed=1)
    expected = build_pruner("snip", {"batches": 2}).prune(context, keep)
    pruned = load_checkpoint(tmp_path / "round1.pt").masks
    assert all(torch.equal(pruned[name], expected[name]) for name in expected)
    magnitude = build_pruner("global_magnitude", {}).prune(
        ScoringContext(prunable_parameters(network), dense.masks), keep
    )
    assert any(not torch.equal(pruned[name], magnitude[name]) for name in expected), "SNIP chose as |w| does"
