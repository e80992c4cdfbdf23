"""The Snakemake workflow itself: config validation, lint, and an end-to-end demo run."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from weightmom.models import model_names
from weightmom.pruning import pruner_names
from weightmom.training.recipe import Accelerator, Augment, Recipe

from fake_cifar import make_archive, serve
from helpers import REPO, copy_project, reduced_demo_config, run_snakemake, write_config

sys.path.insert(0, str(REPO / "scripts"))
from brief import brief  # noqa: E402  (scripts/brief.py, what `make demo` pipes Snakemake through)

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def test_schema_names_match_the_registries():
    assert sorted(SCHEMA["$defs"]["model"]["enum"]) == model_names()
    from weightmom.pruning.registry import _METHODS

    package_schemas = sorted(p.stem for p in (REPO / "src/weightmom/pruning/methods").glob("*.yaml"))
    built_in = [n for n in pruner_names() if _METHODS[n][0].__module__.startswith("weightmom.pruning.methods.")]
    assert package_schemas == built_in


def test_schema_defaults_match_the_library_defaults():
    recipe = SCHEMA["$defs"]["recipe"]["properties"]
    assert recipe["lr_milestones"]["default"] == list(Recipe.__dataclass_fields__["lr_milestones"].default)
    assert recipe["lr_gamma"]["default"] == Recipe.__dataclass_fields__["lr_gamma"].default
    augment = recipe["augment"]["properties"]
    assert {k: v["default"] for k, v in augment.items()} == vars(Augment())
    accelerator = SCHEMA["properties"]["accelerator"]["properties"]
    assert {k: v["default"] for k, v in accelerator.items()} == vars(Accelerator())


@pytest.mark.slow
def test_download_and_prepare_rules_fetch_over_http(tmp_path):
    workdir = copy_project(tmp_path / "work")
    served = tmp_path / "served"
    served.mkdir()
    info = make_archive(served / "cifar-10-python.tar.gz")
    config = reduced_demo_config()
    with serve(served) as (base, _):
        config["datasets"]["tiny"] = {"source": "cifar10", "url": f"{base}/cifar-10-python.tar.gz", "md5": info["md5"]}
        result = run_snakemake(
            workdir, "results/demo/data/tiny/train.npz", "--cores", "1", "--configfile", write_config(workdir, config)
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / f"data/raw/{info['md5']}/cifar-10-python.tar.gz").exists()  # downloads are kept by checksum
    assert (workdir / "results/demo/data/tiny/test.npz").exists()
    assert (workdir / f"logs/download/{info['md5']}/cifar-10-python.tar.gz.log").exists()


def _tar(folder: Path, archive: Path) -> str:
    import tarfile

    from weightmom.data.download import md5sum

    with tarfile.open(archive, "w") as tar:
        tar.add(folder, arcname="images")
    return md5sum(archive)


@pytest.mark.slow
def test_images_are_prepared_again_when_they_change(tmp_path):
    from fake_images import image_folder

    workdir = copy_project(tmp_path / "work")
    folder = image_folder(tmp_path / "folder", per_class=4)
    archive = tmp_path / "images.tar"
    config = reduced_demo_config()
    md5 = _tar(folder, archive)
    config["datasets"]["packed"] = {"source": "imagefolder", "archive": str(archive), "md5": md5}
    config["datasets"]["loose"] = {"source": "imagefolder", "root": str(folder)}
    targets = ["results/demo/data/packed/val.npz", "results/demo/data/loose/val.npz"]
    first = run_snakemake(workdir, *targets, "--cores", "1", "--configfile", write_config(workdir, config))
    assert first.returncode == 0, first.stderr[-3000:]
    assert (workdir / f"data/raw/{md5}/unpacked-{md5}/images/train/cat").is_dir()
    assert "Nothing to be done" in run_snakemake(workdir, *targets, "-n", "--configfile", "config/test.yaml").stdout
    archive.write_bytes(archive.read_bytes())  # copied again (a re-staged share): same MD5, newer file
    assert "Nothing to be done" in run_snakemake(workdir, *targets, "-n", "--configfile", "config/test.yaml").stdout

    image_folder(tmp_path / "more", per_class=5)  # one more image per class, new content
    for path in (tmp_path / "more").rglob("4.png"):
        target = folder / path.relative_to(tmp_path / "more")
        target.write_bytes(path.read_bytes())
    loose_only = run_snakemake(workdir, *targets, "-n", "--configfile", "config/test.yaml")
    assert "results/demo/data/loose/train.npz" in loose_only.stdout
    assert "results/demo/data/packed/train.npz" not in loose_only.stdout

    config["datasets"]["packed"]["md5"] = _tar(folder, archive)  # the archive replaced, its new MD5 given
    again = run_snakemake(workdir, *targets, "--cores", "1", "--configfile", write_config(workdir, config))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "results/demo/data/packed/train.npz" in again.stdout + again.stderr
    for name in ("packed", "loose"):
        sizes = [
            np.load(workdir / f"results/demo/data/{name}/{split}.npz")["labels"].size
            for split in ("train", "val", "test")
        ]
        assert sizes == [8, 2, 10]


@pytest.mark.slow
def test_lint_is_clean_and_the_paper_dag_builds(tmp_path):
    workdir = copy_project(tmp_path)
    for args in (["--lint"], ["--lint", "--configfile", "config/demo.yaml"]):
        result = run_snakemake(workdir, *args)
        assert result.returncode == 0, result.stderr
        assert "Lints for" not in result.stdout + result.stderr
    paper = run_snakemake(workdir, "-n", "--cores", "all")
    assert paper.returncode == 0, paper.stderr
    assert re.search(r"prune_round\s+\d+", paper.stdout)
    overridden = run_snakemake(workdir, "-n", "--cores", "all", "--config", "device=cpu")  # on top of config.yaml
    assert overridden.returncode == 0, overridden.stderr
    assert re.search(r"prune_round\s+\d+", overridden.stdout)


@pytest.mark.slow
@pytest.mark.parametrize(
    "config", ["config/demo.yaml", "config/config.yaml", "config/paper-cpu.yaml", "config/paper-gpu.yaml"]
)
def test_every_paper_config_plans_the_claims_and_the_sweep(tmp_path, config):
    workdir = copy_project(tmp_path)
    spec = yaml.safe_load((REPO / config).read_text())
    for name, dataset in spec["datasets"].items():  # the config check wants the local archives to exist
        if "archive" in dataset:
            dataset["archive"] = f"placeholders/{name}.tar.gz"
            (workdir / "placeholders").mkdir(exist_ok=True)
            (workdir / dataset["archive"]).write_bytes(b"")
    (workdir / config).write_text(yaml.safe_dump(spec, sort_keys=False))
    outputs = _planned_outputs(workdir, config)
    out = f"results/{spec['experiment']}"
    assert {f"{out}/tables/claims.{ext}" for ext in ("md", "html", "csv", "parquet")} <= outputs
    pruning = spec["pruning"]
    last = pruning["rounds"] + pruning.get("sweep", {}).get("rounds", 0)
    rounds = {int(m) for m in re.findall(r"/round(\d+)/checkpoint\.pt", " ".join(outputs))}
    assert rounds == set(range(1, last + 1))
    exported = {int(m) for m in re.findall(r"/round(\d+)/model\.onnx", " ".join(outputs))}
    assert exported == {pruning["rounds"]}  # exports and tables read the round at the target compression


def _planned_outputs(workdir: Path, config: str, env: dict[str, str] | None = None) -> set[str]:
    result = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", config, env=env)
    assert result.returncode == 0, result.stderr
    outputs = set()
    for line in result.stdout.splitlines():
        if line.strip().startswith("output:"):
            outputs.update(part.strip() for part in line.split(":", 1)[1].split(","))
    return outputs


@pytest.mark.slow
def test_demo_workflow_end_to_end(tmp_path):
    workdir = copy_project(tmp_path)
    config = reduced_demo_config()
    config_path = write_config(workdir, config)
    run = run_snakemake(workdir, "--cores", "2", "--configfile", config_path)
    assert run.returncode == 0, run.stderr[-3000:]
    ending = (run.stdout + run.stderr).rstrip().splitlines()[-14:]
    assert any(line.startswith("Done. Experiment 'demo': everything is under results/demo/") for line in ending), ending
    assert any("results/demo/tables/<table>.md" in line and "digits, digits_ablation" in line for line in ending), (
        ending
    )
    jobs = int(re.search(r"^total\s+(\d+)$", run.stdout + run.stderr, re.M).group(1))
    briefed = list(brief((run.stdout + run.stderr).splitlines(keepends=True)))  # what `make demo` prints
    assert len(briefed) <= jobs + 80 and max(map(len, briefed)) < 500, "".join(briefed)
    assert sum(bool(re.match(r"\d+ of \d+ steps", line)) for line in briefed) == jobs

    metrics = pd.read_parquet(workdir / "results/demo/metrics.parquet")
    methods, seeds, rounds = list(config["methods"]), config["seeds"], config["pruning"]["rounds"]
    assert len(metrics) == len(methods) * len(seeds) * (rounds + 1)
    keys = metrics[["model", "method", "seed", "round"]].drop_duplicates()
    assert len(keys) == len(metrics)
    assert set(metrics["round"]) == set(range(rounds + 1))
    final = metrics[metrics["round"] == rounds]
    assert final["compression_ratio"].round(2).eq(15.0).all()
    assert metrics[metrics["round"] == 0]["top1"].min() > 0.9
    assert metrics[metrics["round"] == 0]["val_top1"].min() > 0.9
    assert metrics["val_top1"].ne(metrics["top1"]).any()  # two splits, two measurements
    layers = pd.read_parquet(workdir / "results/demo/layers.parquet")
    assert len(layers) == len(metrics) * 3  # the MLP has three linear layers
    curves = pd.read_parquet(workdir / "results/demo/curves.parquet")  # a row per training epoch
    dense_epochs, finetune_epochs = config["training"]["dense"]["epochs"], config["training"]["finetune"]["epochs"]
    assert len(curves) == len(seeds) * (dense_epochs + len(methods) * rounds * finetune_epochs)
    per_run = curves.groupby(["method", "seed", "round"])["epoch"].agg(list)
    assert per_run.loc[("dense", 0, 0)] == list(range(1, dense_epochs + 1))
    assert all(
        epochs == list(range(1, finetune_epochs + 1)) for (method, _, _), epochs in per_run.items() if method != "dense"
    )
    assert curves["val_top1"].between(0, 1).all() and (curves["seconds"] > 0).all()
    last_dense = curves[(curves["method"] == "dense") & (curves["epoch"] == dense_epochs)].set_index("seed")["val_top1"]
    dense_rows = metrics[(metrics["round"] == 0) & (metrics["method"] == methods[0])].set_index("seed")["val_top1"]
    pd.testing.assert_series_equal(
        last_dense.sort_index(), dense_rows.sort_index(), check_names=False
    )  # one measurement
    steps = pd.read_csv(workdir / "results/demo/summary/curves.csv")
    assert len(steps) == len(methods) * rounds * finetune_epochs and set(steps["panel"]) == {"digits / mlp"}

    table = (workdir / "results/demo/tables/digits.md").read_text()
    for method in methods:
        assert re.search(rf"\| (\*\*)?{method}(\*\*)? +\|", table), method
    assert table.count("**") >= 4  # the best method per model: its name and its top-1 in bold
    for ext in ("csv", "parquet", "tex"):
        assert (workdir / f"results/demo/tables/digits.{ext}").exists()
    assert "| beta " in (workdir / "results/demo/tables/digits_ablation.md").read_text()
    for kind in ("accuracy", "density", "curves"):
        assert (workdir / f"results/demo/figures/digits/mlp_{kind}.png").stat().st_size > 10_000
    assert (workdir / "logs/demo/benchmarks/digits/mlp/seed0/dense/train.tsv").exists()
    assert (workdir / "logs/demo/benchmarks/digits/mlp/seed1/weightmom/round2/prune.tsv").exists()
    assert "epoch" in (workdir / "logs/demo/digits/mlp/seed0/dense/train.log").read_text()  # the progress bar

    report = run_snakemake(workdir, "--report", "results/demo/report.html", "--configfile", config_path)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (workdir / "results/demo/report.html").read_text()
    for caption in (
        "Share of surviving weights",
        "Top-1 accuracy against compression",
        "Rows model x method",
        "Fine-tuning curves",
        "First the experiment in the paper",
    ):  # the last: the landing page
        assert caption in html
    for item in ("digits.html", "digits_ablation.html", "mlp_accuracy.png", "mlp_density.png", "mlp_curves.png"):
        assert item in html
    landing = html[html.index("First the experiment in the paper") :]  # the landing page leads with the answer
    assert landing.index("Top-1 at 15x compression: experiment demo") < landing.index("C1: outperforms previous")
    assert "digits / mlp" in (workdir / "results/demo/tables/paper.md").read_text()

    again = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", config_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    shared = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", config_path, "--config", "jobs_per_gpu=3")
    assert shared.returncode == 0 and "Nothing to be done" in shared.stdout + shared.stderr  # where jobs run, not what

    round_dir = "results/demo/runs/digits/mlp/seed0/magnitude"
    (workdir / round_dir / "round1/checkpoint.pt").unlink()
    planned = _planned_outputs(workdir, config_path)
    assert planned == {
        f"{round_dir}/round1/checkpoint.pt",
        f"{round_dir}/round2/checkpoint.pt",
        f"{round_dir}/round1/curve.parquet",
        f"{round_dir}/round2/curve.parquet",
        f"{round_dir}/round1/metrics.parquet",
        f"{round_dir}/round1/layers.parquet",
        f"{round_dir}/round2/metrics.parquet",
        f"{round_dir}/round2/layers.parquet",
        f"{round_dir}/round1/predictions.parquet",
        f"{round_dir}/round2/predictions.parquet",
        *(f"{round_dir}/round2/{name}" for name in ("model.safetensors", "model.onnx", "export.parquet")),
        "results/demo/exports.parquet",
        *(
            f"results/demo/tables/deployment/{t}.{ext}"
            for t in ("digits", "digits_ablation")
            for ext in ("md", "html", "csv")
        ),
        "results/demo/metrics.parquet",
        "results/demo/layers.parquet",
        "results/demo/curves.parquet",
        "results/demo/summary/metrics.json",
        "results/demo/summary/accuracy.csv",
        "results/demo/summary/curves.csv",
        *(f"results/demo/tables/claims.{ext}" for ext in ("md", "html", "csv", "parquet")),
        *(f"results/demo/tables/paper.{ext}" for ext in ("md", "html", "tex")),
        *(
            f"results/demo/tables/{t}.{ext}"
            for t in ("digits", "digits_ablation")
            for ext in ("md", "tex", "html", "csv", "parquet")
        ),
        *(
            f"results/demo/figures/{t}/mlp_{kind}.{ext}"
            for t in ("digits", "digits_ablation")
            for kind in ("accuracy", "density", "curves")
            for ext in ("png", "pdf", "svg")
        ),
    }
    rerun = run_snakemake(workdir, "--cores", "2", "--configfile", config_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rerun_metrics = pd.read_parquet(workdir / "results/demo/metrics.parquet")
    pd.testing.assert_frame_equal(
        rerun_metrics.drop(columns=["train_seconds"]), metrics.drop(columns=["train_seconds"])
    )
    rerun_curves = pd.read_parquet(workdir / "results/demo/curves.parquet")
    pd.testing.assert_frame_equal(rerun_curves.drop(columns=["seconds"]), curves.drop(columns=["seconds"]))

    # Code changes: the workflow digests the package it imports (here a copy, first on the path).
    package = workdir / "src/weightmom"
    shutil.copytree(REPO / "src/weightmom", package, ignore=shutil.ignore_patterns("__pycache__"))
    copy_first = {"PYTHONPATH": str(package.parent)}
    assert "Nothing to be done" in run_snakemake(workdir, "-n", "--configfile", config_path, env=copy_first).stdout
    with open(package / "pruning/methods/magnitude.py", "a") as handle:
        handle.write("\n# an edit to the magnitude method\n")
    planned = _planned_outputs(workdir, config_path, env=copy_first)
    rounds = {f"results/demo/runs/digits/mlp/seed{s}/magnitude/round{r}" for s in config["seeds"] for r in (1, 2)}
    assert {p.rsplit("/", 1)[0] for p in planned if "/runs/" in p} == rounds
    assert not any(p.endswith("train.npz") or "/dense/" in p for p in planned)


@pytest.mark.slow
def test_two_experiments_in_one_checkout_keep_their_own_outputs_and_share_the_dense_run(tmp_path):
    workdir = copy_project(tmp_path)
    base = reduced_demo_config()
    base.update(seeds=[0], tables={"digits": {"dataset": "digits", "models": ["mlp"]}})
    base["training"]["dense"]["epochs"] = 1
    base["pruning"]["rounds"] = 1
    configs = {}
    for name, method in (("first", "magnitude"), ("second", "lamp")):
        config = {**base, "experiment": name, "methods": {method: base["methods"][method]}}
        if name == "second":  # another fine-tuning schedule, the same dense recipe
            finetune = {**base["training"]["finetune"], "epochs": base["training"]["finetune"]["epochs"] + 1}
            config["training"] = {**base["training"], "finetune": finetune}
        configs[name] = f"config/{name}.yaml"
        (workdir / configs[name]).write_text(yaml.safe_dump(config, sort_keys=False))
        if name == "second":  # its dense run is the first's: the projection counts the round alone
            plan = run_snakemake(workdir, "-n", "--configfile", configs[name])
            assert "Projected cost: 1 training job(s) left (1 already made)" in plan.stdout + plan.stderr
        run = run_snakemake(workdir, "--cores", "2", "--configfile", configs[name])
        assert run.returncode == 0, run.stderr[-3000:]
        if name == "first":
            table = (workdir / "results/first/tables/digits.md").read_bytes()
    assert set(pd.read_parquet(workdir / "results/first/metrics.parquet")["method"]) == {"magnitude"}
    assert set(pd.read_parquet(workdir / "results/second/metrics.parquet")["method"]) == {"lamp"}
    assert (workdir / "results/first/tables/digits.md").read_bytes() == table
    # one dense model per recipe: the second experiment copied the first's
    dense = "runs/digits/mlp/seed0/dense"
    assert (
        "reused from results/first/" + dense in (workdir / "logs/second/digits/mlp/seed0/dense/train.log").read_text()
    )
    for name in ("checkpoint.pt", "curve.parquet", "settings.json"):
        assert (workdir / "results/second" / dense / name).read_bytes() == (
            workdir / "results/first" / dense / name
        ).read_bytes()
    first_rounds = pd.read_parquet(workdir / "results/first/curves.parquet").query("round > 0")
    second_rounds = pd.read_parquet(workdir / "results/second/curves.parquet").query("round > 0")
    assert second_rounds["epoch"].max() == first_rounds["epoch"].max() + 1
    for name in configs:
        assert "Nothing to be done" in run_snakemake(workdir, "-n", "--configfile", configs[name]).stdout
        assert (workdir / f"logs/{name}/collect.log").exists()
