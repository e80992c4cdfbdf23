"""docs/extending.md's example method, taken from the guide and run, so that it cannot rot."""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn

from weightmom.data.splits import Split
from weightmom.pruner_files import ENTRY_POINT_GROUP
from weightmom.pruning import ScoringContext, TrainingBatches, build_pruner, registry, with_defaults

GUIDE = Path(__file__).resolve().parents[1] / "docs/extending.md"


def _blocks(language: str) -> list[str]:
    """The guide's fenced code blocks in `language`, dedented."""
    pattern = rf"^( *)```{language}\n(.*?)^\1```$"
    return [textwrap.dedent(body) for _, body in re.findall(pattern, GUIDE.read_text(), flags=re.S | re.M)]


def _install_example(folder: Path, monkeypatch) -> None:
    """The guide's module and schema, as the guide's file names, imported (which registers the method)."""
    name = re.search(r"methods/(\w+)\.py", GUIDE.read_text()).group(1)
    (folder / f"{name}.py").write_text(_blocks("python")[0])
    (folder / f"{name}.yaml").write_text(_blocks("yaml")[0])
    spec = importlib.util.spec_from_file_location(f"guide_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # where the registry looks for the schema
    spec.loader.exec_module(module)


def test_the_guides_example_method_computes_its_documented_score(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    _install_example(tmp_path, monkeypatch)
    config_line = re.search(r"`(methods: \{taylor: .*?\})`", GUIDE.read_text()).group(1)
    entry = yaml.safe_load(config_line)["methods"]["taylor"]
    assert with_defaults(entry.pop("pruner"), entry) == {"batches": 8, "min_density": 0.0}

    generator = torch.Generator().manual_seed(0)
    split = Split(
        torch.randint(0, 256, (12, 1, 2, 2), dtype=torch.uint8, generator=generator),
        torch.randint(0, 3, (12,), generator=generator),
        ("0", "1", "2"),
        torch.zeros(1),
        torch.ones(1),
    )
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False))
    masks = {"1.weight": torch.rand(3, 4, generator=generator) < 0.8}
    batches = TrainingBatches(split, batch_size=4, seed=7)
    context = ScoringContext(params={"1.weight": model[1].weight}, masks=masks, network=model, training=batches)
    pruner = build_pruner("taylor", {"batches": 2})
    scores = pruner.scores(context)["1.weight"]

    # the documented score: the sum over the first two batches of (dL_b/dw * w)^2, w masked
    weight = (model[1].weight.detach() * masks["1.weight"]).requires_grad_()
    expected = torch.zeros(3, 4)
    for inputs, labels in batches(2):
        (gradient,) = torch.autograd.grad(F.cross_entropy(inputs.flatten(1) @ weight.T, labels), weight)
        expected += (gradient * weight.detach()) ** 2
    assert torch.allclose(scores, expected, rtol=1e-5, atol=1e-10)
    kept = pruner.prune(context, 4)["1.weight"]
    assert int(kept.sum()) == 4 and not (kept & ~masks["1.weight"]).any()
    assert scores[kept].min() >= scores[masks["1.weight"] & ~kept].max()


def test_the_guides_entry_point_group_is_the_one_weightmom_reads():
    (toml,) = _blocks("toml")
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in toml
