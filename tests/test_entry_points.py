"""A pruning method from an installed package outside this one (entry point group
weightmom.pruners): registered at start-up, validated and digested by the workflow, run by
the pruning step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from weightmom import pruner_files
from weightmom.errors import SpecError
from weightmom.provenance import codeversion
from weightmom.pruning import (
    ScoringContext,
    build_pruner,
    options_schema,
    pruner_names,
    register_entry_points,
    registry,
)
from weightmom.training.checkpoint import load_checkpoint
from weightmom.training.masks import full_masks

from helpers import REPO, copy_project, prune_args, reduced_demo_config, run_snakemake, write_config

PLUGIN = '''
from weightmom.pruning.base import Pruner


class SmallestFirst(Pruner):
    """Keeps the smallest |w| of the network: the opposite of global magnitude pruning."""

    allocation = "global"

    def scores(self, context):
        return {name: -p.abs() for name, p in context.params.items()}
'''
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {"min_density": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.0}},
}
PRUNING = {"target_compression": 4, "rounds": 1, "schedule": "geometric"}
RECIPE = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


def install_plugin(
    site: Path, entry_point: str = "toy_plugin.smallest_first:SmallestFirst", name: str = "smallest_first"
) -> Path:
    """A package `toy_plugin` installed into the folder `site` (what `pip install --target`
    writes: the package and its .dist-info naming the entry point)."""
    package = site / "toy_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "smallest_first.py").write_text(PLUGIN)
    (package / "smallest_first.yaml").write_text(yaml.safe_dump(SCHEMA))
    info = site / "toy_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[weightmom.pruners]\n{name} = {entry_point}\n")
    return site


@pytest.fixture
def on_path(monkeypatch):
    """Puts a plugin folder on sys.path; afterwards the registry and the imported modules are
    as they were (each test's plugin is imported from its own folder)."""
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))

    def forget():
        for module in [m for m in sys.modules if m.split(".")[0] == "toy_plugin"]:
            del sys.modules[module]

    def put(site: Path) -> Path:
        forget()
        monkeypatch.syspath_prepend(str(site))
        return site

    yield put
    forget()


@pytest.fixture
def plugin_site(tmp_path, on_path):
    return on_path(install_plugin(tmp_path / "site"))


def _with_site(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_an_entry_point_registers_its_method_with_the_schema_beside_it(plugin_site):
    assert "smallest_first" not in pruner_names()
    register_entry_points()
    register_entry_points()  # again: what is registered stays, nothing twice
    assert "smallest_first" in pruner_names()
    assert options_schema("smallest_first") == SCHEMA
    params = {"a": torch.tensor([1.0, -5.0, 0.5]), "b": torch.tensor([3.0, -0.1])}
    masks = build_pruner("smallest_first", {}).prune(ScoringContext(params, full_masks(params)), 2)
    assert masks["a"].tolist() == [False, False, True] and masks["b"].tolist() == [False, True]
    with pytest.raises(SpecError, match="option min_density"):
        build_pruner("smallest_first", {"min_density": 2})


def test_the_workflow_finds_an_entry_points_schema_and_digests_its_code(plugin_site):
    assert pruner_files.schema_files()["smallest_first"] == plugin_site / "toy_plugin/smallest_first.yaml"
    assert pruner_files.schema_files()["magnitude"].parent == pruner_files.METHODS_DIR
    files = codeversion.step_files("prune", "smallest_first")
    assert {plugin_site / "toy_plugin/smallest_first.py", plugin_site / "toy_plugin/smallest_first.yaml"} <= set(files)
    assert plugin_site / "toy_plugin/smallest_first.py" not in codeversion.step_files("prune", "magnitude")
    codeversion.step_digest.cache_clear()
    before = codeversion.step_digest("prune", "smallest_first")
    with open(plugin_site / "toy_plugin/smallest_first.py", "a") as handle:
        handle.write("\n# an edit\n")
    codeversion.step_digest.cache_clear()
    assert codeversion.step_digest("prune", "smallest_first") != before
    codeversion.step_digest.cache_clear()


@pytest.mark.parametrize(
    "name, entry_point, message",
    [
        ("smallest_first", "toy_plugin.nosuch:SmallestFirst", "cannot be loaded \\(ModuleNotFoundError"),
        (
            "smallest_first",
            "toy_plugin.smallest_first",
            "names <module 'toy_plugin.smallest_first'.*not a Pruner subclass",
        ),
        ("magnitude", "toy_plugin.smallest_first:SmallestFirst", "a pruner named 'magnitude' is registered already"),
    ],
)
def test_a_broken_entry_point_is_named(tmp_path, on_path, name, entry_point, message):
    on_path(install_plugin(tmp_path / "site", entry_point, name))
    with pytest.raises(
        SpecError, match=f"^pruner entry point '{name} = {entry_point}' \\(from toy-plugin 0.1\\): {message}"
    ):
        register_entry_points()


@pytest.mark.slow
def test_the_command_line_sees_an_installed_method(tmp_path):
    """In a fresh interpreter the method is there from start-up: an unknown pruner's message
    lists it among the known ones."""
    site = install_plugin(tmp_path / "site")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "weightmom",
            *prune_args("x.pt", "x", tmp_path / "out.pt", method="m", pruner="nosuch", pruning=PRUNING, recipe=RECIPE),
        ],
        capture_output=True,
        text=True,
        env=_with_site(site),
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode != 0 and "nosuch" in run.stderr and "smallest_first" in run.stderr, run.stderr


@pytest.mark.slow
def test_a_round_of_an_installed_method_runs_through_the_command_line(tmp_path, dense_mlp, digits_dir):
    site = install_plugin(tmp_path / "site")
    out = tmp_path / "round1.pt"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "weightmom",
            *prune_args(
                dense_mlp, digits_dir, out, method="smallest", pruner="smallest_first", pruning=PRUNING, recipe=RECIPE
            ),
        ],
        capture_output=True,
        text=True,
        env=_with_site(site),
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    dense = load_checkpoint(dense_mlp).build()
    pruned = load_checkpoint(out)
    weights = torch.cat([p.detach().abs().flatten() for p in (dense.get_parameter(n) for n in pruned.masks)])
    kept = torch.cat([m.flatten() for m in pruned.masks.values()])
    assert pruned.meta["method"] == "smallest" and int(kept.sum()) == round(kept.numel() / 4)
    assert weights[kept].max() <= weights[~kept].min()  # the smallest survived, as the plugin says


@pytest.mark.slow
def test_the_workflow_takes_a_config_naming_an_installed_method(tmp_path):
    site = install_plugin(tmp_path / "site")
    workdir = copy_project(tmp_path / "project")
    config = reduced_demo_config()
    config["methods"]["smallest"] = {"pruner": "smallest_first"}
    config["tables"] = {
        name: {**table, "methods": ["magnitude", "smallest"]} for name, table in config["tables"].items()
    }
    path = write_config(workdir, config)
    env = {"PYTHONPATH": os.pathsep.join([str(site), str(REPO / "src")])}
    plan = run_snakemake(workdir, "-n", "-p", "--configfile", path, env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "--pruner smallest_first" in plan.stdout
    config["methods"]["smallest"]["min_density"] = 2
    write_config(workdir, config)
    refused = run_snakemake(workdir, "-n", "--configfile", path, env=env)
    assert refused.returncode != 0 and "methods.smallest.min_density" in refused.stderr + refused.stdout
