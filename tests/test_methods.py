"""Each method's masks on small hand-computed examples, and the method registry."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch

from weightmom.errors import CheckpointError, SpecError
from weightmom.pruning import (
    Pruner,
    ScoringContext,
    build_pruner,
    keep_counts,
    options_schema,
    pruner_names,
    register_pruner,
    registry,
)
from weightmom.pruning import scores as score_functions
from weightmom.steps.prune import prune_round
from weightmom.steps.train import train_dense
from weightmom.training.loop import stretched_schedule
from weightmom.training.masks import full_masks
from weightmom.training.recipe import Recipe

from helpers import FAST_RECIPE


def _params(**layers):
    return {name: torch.tensor(values, dtype=torch.float32) for name, values in layers.items()}


def test_lamp_scores_by_hand():
    params = _params(a=[1.0, -2.0, 3.0])
    score = score_functions.lamp(params, full_masks(params))["a"]
    # squares 1, 4, 9; each divided by the sum of the squares at least as large
    assert torch.allclose(score, torch.tensor([1 / 14, 4 / 13, 9 / 9], dtype=torch.float64))


def test_lamp_masks_differ_from_global_magnitude_by_hand():
    params = _params(a=[1.0, 2.0, 3.0], b=[10.0, 11.0, 30.0])
    masks = build_pruner("lamp", {}).prune(ScoringContext(params, full_masks(params), {}, torch.Generator()), 4)
    # LAMP: a -> 1/14, 4/13, 1; b -> 100/1121, 121/1021, 1: the two lowest are a[0] and b[0]
    assert masks["a"].tolist() == [False, True, True] and masks["b"].tolist() == [False, True, True]
    magnitude = build_pruner("global_magnitude", {}).prune(
        ScoringContext(params, full_masks(params), {}, torch.Generator()), 4
    )
    assert magnitude["a"].tolist() == [False, False, True] and magnitude["b"].tolist() == [True, True, True]


def test_lamp_ignores_pruned_weights():
    params = _params(a=[0.0, 2.0, 3.0, 4.0])
    masks = {"a": torch.tensor([False, True, True, True])}
    score = score_functions.lamp(params, masks)["a"]
    assert score[1] == pytest.approx(4 / 29) and score[3] == pytest.approx(1.0)


def test_gmp_cubic_schedule_by_hand():
    # s_r = 0.9 * (1 - (1 - r/4)^3) = 0.5203125, 0.7875, 0.8859375, 0.9 of 2000 weights
    assert keep_counts(2000, 10, 4, "cubic") == [2000, 959, 425, 228, 200]
    assert build_pruner("gmp", {}).schedule == "cubic"


def test_gmp_prunes_each_layer_to_the_same_sparsity():
    params = _params(a=[float(i) for i in range(1, 11)], b=[float(i) for i in range(20, 0, -1)])
    masks = build_pruner("gmp", {}).prune(ScoringContext(params, full_masks(params), {}, torch.Generator()), 15)
    assert masks["a"].tolist() == [False] * 5 + [True] * 5
    assert masks["b"].tolist() == [True] * 10 + [False] * 10


def test_lottery_rewinds_survivors_to_the_snapshot():
    model = torch.nn.Linear(4, 2, bias=False)
    early = {"weight": torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]])}
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[9.0, -1.0, 0.5, 3.0], [0.1, 7.0, -8.0, 0.2]]))
    pruner = build_pruner("lottery", {"rewind_epoch": 2})
    params = {"weight": model.weight}
    masks = pruner.prune(ScoringContext(params, full_masks(params), {}, torch.Generator()), 4)
    assert masks["weight"].tolist() == [[True, False, False, True], [False, True, True, False]]
    pruner.rewind(model, {2: early})
    assert torch.equal(model.weight.detach() * masks["weight"], early["weight"] * masks["weight"])
    with pytest.raises(CheckpointError, match="no weights of epoch 2"):
        pruner.rewind(model, {0: early})


def test_rewinding_learning_rates():
    dense = Recipe.from_dict({**FAST_RECIPE, "epochs": 10, "lr": 0.1, "lr_schedule": "cosine"})
    finetune = Recipe.from_dict({**FAST_RECIPE, "epochs": 3, "lr": 0.01})
    cosine = [0.1 * 0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(10)]
    lr_rewind = build_pruner("lr_rewind", {}).learning_rate(dense, finetune)
    assert [lr_rewind(i) for i in range(3)] == pytest.approx(cosine[7:])  # the dense run's last 3 epochs
    lottery = build_pruner("lottery", {"rewind_epoch": 1}).learning_rate(dense, finetune)
    assert [lottery(i) for i in range(3)] == pytest.approx([cosine[1], cosine[4], cosine[7]])  # epochs 1..10 over 3
    assert build_pruner("magnitude", {}).learning_rate(dense, finetune) is None
    assert stretched_schedule(dense, 0, 10)(5) == pytest.approx(cosine[5])


def test_every_method_has_an_options_schema_with_defaults():
    assert set(pruner_names()) >= {
        "weightmom",
        "magnitude",
        "global_magnitude",
        "random",
        "lottery",
        "lr_rewind",
        "gmp",
        "lamp",
    }
    for name in pruner_names():
        schema = options_schema(name)
        assert schema["additionalProperties"] is False
        # options that only some settings of another option allow have no schema default
        conditional = {key for rule in schema.get("allOf", []) for key in rule["then"]["properties"]}
        assert all("default" in spec for key, spec in schema["properties"].items() if key not in conditional), name
        assert isinstance(build_pruner(name, {}), Pruner)


def test_defaults_are_filled_and_bad_options_named():
    assert build_pruner("weightmom", {}).options == {
        "score": "momentum",
        "allocation": "score_budget",
        "beta": 0.5,
        "granularity": "round",
        "min_density": 0.02,
        "density_exponent": 1.0,  # the defaults that depend on the allocation are filled too
        "statistic": "score",
    }
    default = build_pruner("weightmom", {})
    assert (default.density_exponent, default.statistic) == (1.0, "score")
    global_scaled = build_pruner("weightmom", {"allocation": "global_scaled"})
    assert global_scaled.options["density_exponent"] == 1.0 and "statistic" not in global_scaled.options
    assert global_scaled.statistic == "score"
    levelling = build_pruner("weightmom", {"allocation": "levelling"}).options
    assert "density_exponent" not in levelling and "statistic" not in levelling
    with pytest.raises(SpecError, match="'rewind_epochs' was unexpected"):
        build_pruner("lottery", {"rewind_epochs": 3})
    with pytest.raises(SpecError, match="option beta"):
        build_pruner("weightmom", {"beta": 1.0})


#: sha256 (16 hex digits) of each built-in method's masks after two rounds of
#: `_two_rounds`, computed by the code before the ScoringContext interface: the interface
#: changed how methods are called, not what they choose
MASKS_BEFORE_THE_CONTEXT = {
    "gmp": "9fd72cadf4a751ec",
    "global_magnitude": "b3dde380b10989f9",
    "lamp": "87f965198f69604d",
    "lottery": "b3dde380b10989f9",
    "lr_rewind": "b3dde380b10989f9",
    "magnitude": "9fd72cadf4a751ec",
    "random": "cd2e36c7d85ca96c",
    "weightmom": "b0f18ff8c7c19ba5",
}
#: the options each digest was taken with: the defaults of the time (WeightMom's layer
#: statistic was optimizer_momentum until the default was chosen across networks)
OPTIONS_OF_THE_DIGESTS = {"weightmom": {"statistic": "optimizer_momentum"}}


def _two_rounds(name):
    """Digest of a method's masks over two rounds (1516 weights, keeping 1000 then 400; the
    weights move between rounds; momentum buffers given; each round's generator seeded)."""
    torch.manual_seed(11)
    layers = torch.nn.ModuleDict(
        {"a": torch.nn.Linear(30, 40), "b": torch.nn.Conv2d(3, 8, 3), "c": torch.nn.Linear(20, 5)}
    )
    params = {f"{n}.weight": layer.weight for n, layer in layers.items()}
    momentum = {n: torch.randn_like(p) * 0.1 for n, p in params.items()}
    pruner = build_pruner(name, OPTIONS_OF_THE_DIGESTS.get(name, {}))
    state = pruner.init_state(params)
    masks = full_masks(params)
    digest = hashlib.sha256()
    for keep in (1000, 400):
        with torch.no_grad():
            for p in params.values():
                p.add_(torch.randn_like(p) * 0.05)
        pruner.observe(params, state)
        masks = pruner.prune(ScoringContext(params, masks, state, torch.Generator().manual_seed(keep), momentum), keep)
        for n in sorted(masks):
            digest.update(masks[n].numpy().tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(MASKS_BEFORE_THE_CONTEXT))
def test_each_built_in_method_prunes_as_before_the_scoring_context(name):
    assert _two_rounds(name) == MASKS_BEFORE_THE_CONTEXT[name]


class _Largest(Pruner):
    """A toy method: keeps the largest raw values (signed), layerwise."""

    def scores(self, context):
        return {name: p.clone() for name, p in context.params.items()}


def test_a_registered_toy_method_runs_through_the_pipeline_step(dense_mlp, digits_dir, tmp_path, monkeypatch):
    from weightmom.training.checkpoint import load_checkpoint

    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))  # the toy stays out of later tests
    register_pruner("toy_largest", schema={"type": "object", "additionalProperties": False, "properties": {}})(_Largest)
    params = _params(a=[-5.0, 1.0, 2.0, -1.0])
    context = ScoringContext(params, full_masks(params), {}, torch.Generator())
    assert build_pruner("toy_largest", {}).prune(context, 2)["a"].tolist() == [
        False,
        True,
        True,
        False,
    ]
    prune_round(
        checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        method="toy",
        pruner_name="toy_largest",
        pruner_options={},
        pruning={"target_compression": 4, "rounds": 1, "schedule": "geometric"},
        round_index=1,
        recipe={**FAST_RECIPE, "epochs": 1},
        device="cpu",
        out=tmp_path / "toy.pt",
    )
    checkpoint = load_checkpoint(tmp_path / "toy.pt")
    assert checkpoint.meta["method"] == "toy"
    kept = sum(int(m.sum()) for m in checkpoint.masks.values())
    total = sum(m.numel() for m in checkpoint.masks.values())
    assert kept == round(total / 4)
    with pytest.raises(ValueError, match="registered twice"):
        register_pruner("toy_largest", schema={})(_Largest)


def test_lottery_round_through_the_pipeline_rewinds_to_the_dense_snapshot(digits_dir, tmp_path):
    from weightmom.training.checkpoint import load_checkpoint

    dense = tmp_path / "dense.pt"
    train_dense(
        data_dir=digits_dir,
        dataset="digits",
        model_name="mlp",
        seed=0,
        recipe={**FAST_RECIPE, "epochs": 3},
        snapshot_epochs=[1],
        device="cpu",
        out=dense,
    )
    assert set(load_checkpoint(dense).snapshots) == {1}
    prune_round(
        checkpoint_path=dense,
        data_dir=digits_dir,
        method="lottery",
        pruner_name="lottery",
        pruner_options={"rewind_epoch": 1},
        pruning={"target_compression": 4, "rounds": 2, "schedule": "geometric"},
        round_index=1,
        recipe={**FAST_RECIPE, "epochs": 1},
        dense_checkpoint_path=dense,
        dense_recipe={**FAST_RECIPE, "epochs": 3},
        device="cpu",
        out=tmp_path / "round1.pt",
    )
    assert load_checkpoint(tmp_path / "round1.pt").meta["round"] == 1
