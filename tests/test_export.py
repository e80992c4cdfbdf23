"""The export step: sparse weight file, ONNX file, sizes and CPU latency (issue 14).

Bounds tested:
- the sparse file loads back to *identical* logits (torch.equal) and masks;
- size: with P prunable float32 weights at compression C (P / surviving), the pruned
  tensors take P * 4 * (1/C + 1/32) bytes (values, plus one mask bit per weight), so
      sparse file <= dense file * (1/C + 1/32) + B + 4 KiB
  where B is the bytes of the tensors never pruned (biases, norms: under 2% of the file
  for these models) and 4 KiB is allowed for the header (tensor index and metadata); for
  C <= 32 this is within the issue's "2/C plus a small overhead":
      sparse file <= dense file * 2/C + B + 4 KiB;
- ONNX: onnxruntime gives the same class as PyTorch for every test image, and logits
  within 1e-4 (the step itself allows 1e-3 x max(1, max |logit|), onnx_export.TOLERANCE).
"""

from __future__ import annotations

import io
import math

import onnx
import pandas as pd
import pytest
import torch

from weightmom.cli import main
from weightmom.data.splits import load_split
from weightmom.evaluation.metrics import EXPORT_SCHEMA, read_rows, write_rows
from weightmom.export import onnx_export
from weightmom.export.latency import time_interleaved
from weightmom.export.sparse_file import MASK, load_sparse, load_sparse_model, save_sparse
from weightmom.models import build_model, prunable_parameters
from weightmom.reporting.deployment import deployment_table, to_markdown
from weightmom.steps.export import masked_model
from weightmom.steps.prune import prune_round
from weightmom.training.checkpoint import load_checkpoint

from helpers import FAST_RECIPE

HEADER_ALLOWANCE = 4096


@pytest.fixture(scope="module")
def pruned_mlp(dense_mlp, digits_dir, tmp_path_factory):
    """The dense MLP pruned by magnitude to 15x in one round, fine-tuned one epoch."""
    path = tmp_path_factory.mktemp("pruned") / "magnitude/round1/checkpoint.pt"
    torch.set_num_threads(1)
    prune_round(
        checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        method="magnitude",
        pruner_name="magnitude",
        pruner_options={},
        pruning={"target_compression": 15, "rounds": 1, "schedule": "geometric"},
        round_index=1,
        recipe={**FAST_RECIPE, "epochs": 1},
        device="cpu",
        out=path,
    )
    return path


@pytest.fixture(scope="module")
def test_images(digits_dir):
    test = load_split(digits_dir / "test.npz")
    return test.normalise(test.images[:256])


def _info(checkpoint) -> dict:
    return {
        "model": checkpoint.model_name,
        "input_shape": list(checkpoint.input_shape),
        "num_classes": checkpoint.num_classes,
    }


def _torch_file_bytes(state_dict) -> int:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getbuffer().nbytes


def test_the_sparse_file_loads_back_to_identical_outputs(pruned_mlp, test_images, tmp_path):
    checkpoint = load_checkpoint(pruned_mlp)
    model = masked_model(checkpoint)
    path = tmp_path / "model.safetensors"
    save_sparse(path, model.state_dict(), checkpoint.masks, _info(checkpoint))
    loaded = load_sparse(path)
    assert set(loaded.masks) == set(checkpoint.masks)
    for name, mask in checkpoint.masks.items():
        assert torch.equal(loaded.masks[name], mask)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict[name], tensor), name
    restored = load_sparse_model(path)  # what a user does: three lines (README)
    with torch.inference_mode():
        assert torch.equal(restored(test_images), model(test_images))
    assert not restored.training


def test_the_checkpoints_pruned_weights_are_the_masked_ones(pruned_mlp):
    """The exported network is the one the evaluation measured: masking changes nothing."""
    checkpoint = load_checkpoint(pruned_mlp)
    plain, masked = checkpoint.build().state_dict(), masked_model(checkpoint).state_dict()
    assert all(torch.equal(plain[name], masked[name]) for name in plain)


def test_sparse_file_size_is_within_the_stated_bound(pruned_mlp, tmp_path):
    checkpoint = load_checkpoint(pruned_mlp)
    state = masked_model(checkpoint).state_dict()
    path = tmp_path / "model.safetensors"
    save_sparse(path, state, checkpoint.masks, _info(checkpoint))
    compression = sum(m.numel() for m in checkpoint.masks.values()) / sum(
        int(m.sum()) for m in checkpoint.masks.values()
    )
    assert compression == pytest.approx(15, rel=0.01)
    dense, sparse = _torch_file_bytes(state), path.stat().st_size
    others = sum(t.numel() * t.element_size() for name, t in state.items() if name not in checkpoint.masks)
    assert sparse <= dense * (1 / compression + 1 / 32) + others + HEADER_ALLOWANCE, (sparse, dense)
    assert sparse <= dense * 2 / compression + others + HEADER_ALLOWANCE, (sparse, dense)
    assert dense / sparse > 7  # the real compression on disk, for 15x fewer weights


@pytest.mark.parametrize("compression", [2, 4, 15, 30, 100])
def test_size_bound_holds_across_compressions(compression, tmp_path):
    """A CNN (with batch norms) given random masks at several compressions."""
    torch.manual_seed(compression)
    model = build_model("cnn", (1, 8, 8), 10).eval()
    masks = {}
    for name, weight in prunable_parameters(model).items():
        keep = torch.randperm(weight.numel())[: math.ceil(weight.numel() / compression)]
        masks[name] = torch.zeros(weight.numel(), dtype=torch.bool).index_fill_(0, keep, True).view_as(weight)
        with torch.no_grad():
            weight.mul_(masks[name])
    state = model.state_dict()
    path = tmp_path / "model.safetensors"
    save_sparse(path, state, masks, {"model": "cnn", "input_shape": [1, 8, 8], "num_classes": 10})
    dense, sparse = _torch_file_bytes(state), path.stat().st_size
    others = sum(t.numel() * t.element_size() for name, t in state.items() if name not in masks)
    assert sparse <= dense * (1 / compression + 1 / 32) + others + HEADER_ALLOWANCE
    if compression <= 32:
        assert sparse <= dense * 2 / compression + others + HEADER_ALLOWANCE
    images = torch.randn(4, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(load_sparse_model(path)(images), model(images))


def test_a_dense_network_is_stored_dense(dense_mlp, tmp_path):
    """No bitmask where it would not save space: the dense file's size, give or take the header."""
    checkpoint = load_checkpoint(dense_mlp)
    state = masked_model(checkpoint).state_dict()
    path = tmp_path / "model.safetensors"
    save_sparse(path, state, checkpoint.masks, _info(checkpoint))
    assert not any(key.endswith(MASK) for key in load_sparse_metadata_keys(path))
    assert path.stat().st_size <= _torch_file_bytes(state) + HEADER_ALLOWANCE


def load_sparse_metadata_keys(path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return list(handle.keys())


def test_onnx_agrees_with_pytorch(pruned_mlp, test_images, tmp_path):
    cnn = build_model("cnn", (1, 8, 8), 10).eval()  # with batch norms and pooling
    for name, model in (("mlp", masked_model(load_checkpoint(pruned_mlp))), ("cnn", cnn)):
        path = tmp_path / f"{name}.onnx"
        check = onnx_export.export_checked(model, test_images, path, {"weightmom.model": name})
        assert check.passed and check.images == 256
        assert check.agreement == 1.0
        assert check.max_abs_diff <= 1e-4, check
        # any batch size, batch 1 included
        got = onnx_export.session(path).run(None, {onnx_export.INPUT_NAME: test_images[:1].numpy()})[0]
        with torch.inference_mode():
            assert torch.allclose(torch.from_numpy(got), model(test_images[:1]), atol=1e-4)
        stored = onnx.load(str(path))
        assert {p.key: p.value for p in stored.metadata_props}["weightmom.model"] == name
        assert not list(tmp_path.glob("*.data"))  # one self-contained file


def test_an_onnx_file_that_disagrees_is_not_written(pruned_mlp, test_images, tmp_path, monkeypatch):
    model = masked_model(load_checkpoint(pruned_mlp))
    other = build_model("mlp", (1, 8, 8), 10).eval()
    exported = tmp_path / "good.onnx"
    onnx_export.export_checked(model, test_images, exported)
    assert not onnx_export.check_onnx(exported, other, test_images).passed  # another network: caught

    real_check = onnx_export.check_onnx
    monkeypatch.setattr(onnx_export, "check_onnx", lambda path, m, images, threads=1: real_check(path, other, images))
    target = tmp_path / "model.onnx"
    with pytest.raises(onnx_export.OnnxCheckError, match=r"model\.onnx: onnxruntime disagrees with PyTorch"):
        onnx_export.export_checked(model, test_images, target)
    assert not target.exists() and not list(tmp_path.glob(".tmp-*"))


def test_interleaved_timing_stops_at_its_budget():
    calls = {"a": lambda: None, "b": lambda: sum(range(1000))}
    timings = time_interleaved(calls, repeats=7, warmup=1)
    assert {name: t.runs for name, t in timings.items()} == {"a": 7, "b": 7}
    sequence: list[str] = []
    time_interleaved({"a": lambda: sequence.append("a"), "b": lambda: sequence.append("b")}, repeats=2, warmup=1)
    # warm-up, then every timed run right after an untimed one of the same call (no bias
    # from which call ran last), in forward then reverse order
    assert "".join(sequence) == "ab" + "aabb" + "bbaa"
    assert timings["b"].median_ms > 0
    slow = time_interleaved({"x": lambda: __import__("time").sleep(0.01)}, repeats=100, min_repeats=3, budget_s=0.0)
    assert slow["x"].runs == 3  # min_repeats done, then the budget (already spent) stops it


def test_export_step_end_to_end(dense_mlp, pruned_mlp, digits_dir, tmp_path, test_images):
    rows = []
    for checkpoint in (dense_mlp, pruned_mlp):
        method, round_index = ("dense", 0) if checkpoint == dense_mlp else ("magnitude", 1)
        out = tmp_path / ("dense" if method == "dense" else "round1")
        # the pruned network's ORT latency is timed beside the dense export's ONNX file
        dense_onnx = [] if method == "dense" else ["--dense-onnx", str(tmp_path / "dense/model.onnx")]
        code = main(
            [
                "export",
                "--checkpoint",
                str(checkpoint),
                "--dense-checkpoint",
                str(dense_mlp),
                *dense_onnx,
                "--data",
                str(digits_dir),
                "--threads",
                "1",
                "--repeats",
                "5",
                "--expect-method",
                method,
                "--expect-round",
                str(round_index),
                "--sparse-out",
                str(out / "model.safetensors"),
                "--onnx-out",
                str(out / "model.onnx"),
                "--rows-out",
                str(out / "export.parquet"),
            ]
        )
        assert code == 0
        rows.append(out / "export.parquet")
        with torch.inference_mode():
            expected = masked_model(load_checkpoint(checkpoint))(test_images)
            assert torch.equal(load_sparse_model(out / "model.safetensors")(test_images), expected)
        ort = onnx_export.session(out / "model.onnx").run(None, {onnx_export.INPUT_NAME: test_images.numpy()})[0]
        assert torch.equal(torch.from_numpy(ort).argmax(1), expected.argmax(1))
    frame = read_rows(rows, EXPORT_SCHEMA).set_index("method")
    dense, pruned = frame.loc["dense"], frame.loc["magnitude"]
    assert dense["round"] == 0 and pruned["round"] == 1
    assert dense["compression_ratio"] == 1.0 and pruned["compression_ratio"] == pytest.approx(15, rel=0.01)
    assert dense["dense_file_bytes"] == pruned["dense_file_bytes"]  # the same network's dense file
    assert 0.9 < dense["size_ratio"] < 1.1 and pruned["size_ratio"] > 7
    assert pruned["sparse_file_bytes"] == (tmp_path / "round1/model.safetensors").stat().st_size
    assert abs(pruned["onnx_bytes"] - dense["onnx_bytes"]) < 1024  # ONNX stores the zeros
    assert (frame["onnx_agreement"] == 1.0).all() and (frame["onnx_max_abs_logit_diff"] <= 1e-4).all()
    assert (frame["latency_runs"] == 5).all() and (frame["latency_threads"] == 1).all()
    latencies = [c for c in EXPORT_SCHEMA.names if c.endswith("_ms")]
    assert (frame[latencies] > 0).all().all()
    for column in ("torch_b1_ms", "ort_b128_ms"):  # the dense row's dense latency is its own
        assert dense[column] == dense[f"dense_{column}"]
    info = load_sparse(tmp_path / "round1/model.safetensors").info
    assert info["method"] == "magnitude" and len(info["classes"]) == 10 and len(info["mean"]) == 1


def test_export_times_the_dense_network_without_its_onnx_file(dense_mlp, pruned_mlp, digits_dir, tmp_path):
    """Run by hand without --dense-onnx, the step exports the dense network itself to time it."""
    from weightmom.steps.export import export_checkpoint

    export_checkpoint(
        checkpoint_path=pruned_mlp,
        dense_checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        threads=1,
        repeats=1,
        sparse_out=tmp_path / "m.safetensors",
        onnx_out=tmp_path / "m.onnx",
        rows_out=tmp_path / "e.parquet",
    )
    row = read_rows([tmp_path / "e.parquet"], EXPORT_SCHEMA).iloc[0]
    assert row["dense_ort_b1_ms"] > 0 and row["latency_runs"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.parquet", "m.onnx", "m.safetensors"]


def test_export_refuses_a_checkpoint_of_another_stage(pruned_mlp, dense_mlp, digits_dir, tmp_path, capsys):
    code = main(
        [
            "export",
            "--checkpoint",
            str(pruned_mlp),
            "--dense-checkpoint",
            str(dense_mlp),
            "--data",
            str(digits_dir),
            "--threads",
            "1",
            "--expect-method",
            "lamp",
            "--sparse-out",
            str(tmp_path / "m.safetensors"),
            "--onnx-out",
            str(tmp_path / "m.onnx"),
            "--rows-out",
            str(tmp_path / "e.parquet"),
        ]
    )
    assert code == 2 and "expected 'lamp'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def _row(method: str, seed: int, ms: float, dense_ms: float) -> dict:
    row = {
        "dataset": "toy",
        "model": "m",
        "method": method,
        "seed": seed,
        "round": 0 if method == "dense" else 2,
        "compression_ratio": 1.0 if method == "dense" else 15.0,
        "params_prunable": 1500,
        "params_kept": 100,
        "dense_file_bytes": 6000,
        "sparse_file_bytes": 6000 if method == "dense" else 1000,
        "size_ratio": 1.0 if method == "dense" else 6.0,
        "onnx_bytes": 6100,
        "onnx_check_images": 256,
        "onnx_max_abs_logit_diff": 1e-6,
        "onnx_agreement": 1.0,
        "latency_threads": 1,
        "latency_runs": 20,
        "cpu": "cpu",
        "torch_version": "t",
        "onnxruntime_version": "o",
    }
    for runtime in ("torch", "ort"):
        for batch in (1, 128):
            row[f"{runtime}_b{batch}_ms"] = ms
            row[f"dense_{runtime}_b{batch}_ms"] = dense_ms
    return row


def test_deployment_table_means_over_seeds_dense_first(tmp_path):
    rows = [
        _row("dense", 0, 2.0, 2.0),
        _row("dense", 1, 4.0, 4.0),
        _row("magnitude", 0, 2.0, 2.2),
        _row("magnitude", 1, 4.0, 4.0),
    ]
    write_rows(rows, EXPORT_SCHEMA, tmp_path / "rows.parquet")
    table = deployment_table(read_rows([tmp_path / "rows.parquet"], EXPORT_SCHEMA), ["m"], ["magnitude"])
    assert list(table["method"]) == ["dense", "magnitude"]
    pruned = table.set_index("method").loc["magnitude"]
    assert pruned["torch_b128_ms"] == 3.0 and pruned["torch_b128_speedup"] == pytest.approx(1.05)  # paired, then mean
    assert pruned["seeds"] == 2 and pruned["size_ratio"] == 6.0
    markdown = to_markdown(table)
    assert "| m       | magnitude |" in markdown and "3.000 (1.05x)" in markdown
    assert "File compression (x)" in markdown


def test_deployment_and_collect_steps(tmp_path):
    rows = tmp_path / "rows.parquet"
    write_rows([_row("dense", 0, 2.0, 2.0), _row("magnitude", 0, 2.0, 2.0)], EXPORT_SCHEMA, rows)
    assert main(["collect-exports", "--export-rows", str(rows), "--out", str(tmp_path / "exports.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "exports.parquet")) == 2
    prefix = tmp_path / "tables/deployment/toy"
    assert (
        main(
            [
                "deployment-table",
                "--title",
                "Toy",
                "--models",
                "m",
                "--methods",
                "magnitude",
                "--export-rows",
                str(rows),
                "--out-prefix",
                str(prefix),
            ]
        )
        == 0
    )
    text = prefix.with_suffix(".md").read_text()
    assert text.startswith("# Toy\n") and "1 CPU thread(s) of cpu" in text
    assert list(pd.read_csv(prefix.with_suffix(".csv"))["method"]) == ["dense", "magnitude"]


@pytest.mark.slow
def test_the_workflow_exports_each_tables_dense_and_final_networks(tmp_path):
    from helpers import copy_project, reduced_demo_config, run_snakemake, write_config

    workdir = copy_project(tmp_path)
    config = reduced_demo_config()
    config.update(seeds=[0], tables={"digits": {"dataset": "digits", "models": ["mlp"]}})
    config["methods"] = {"magnitude": config["methods"]["magnitude"]}
    config["training"]["dense"]["epochs"] = 1
    config["pruning"]["rounds"] = 1
    config_path = write_config(workdir, config)
    run = run_snakemake(workdir, "--cores", "2", "--configfile", config_path)
    assert run.returncode == 0, run.stderr[-3000:]
    runs = workdir / "results/demo/runs/digits/mlp/seed0"
    for stage in ("dense", "magnitude/round1"):
        for name in ("model.safetensors", "model.onnx", "export.parquet"):
            assert (runs / stage / name).stat().st_size > 0, (stage, name)
        assert (workdir / f"logs/demo/digits/mlp/seed0/{stage}/export.log").exists()
    exports = pd.read_parquet(workdir / "results/demo/exports.parquet")
    assert sorted(zip(exports["method"], exports["round"])) == [("dense", 0), ("magnitude", 1)]
    table = (workdir / "results/demo/tables/deployment/digits.md").read_text()
    assert "| mlp     | dense     |" in table and "| mlp     | magnitude |" in table
    assert list(pd.read_csv(workdir / "results/demo/tables/deployment/digits.csv")["method"]) == ["dense", "magnitude"]
    assert "results/demo/tables/deployment/<table>.md" in run.stdout + run.stderr  # the run's closing summary

    (runs / "magnitude/round1/model.onnx").unlink()  # a deleted export comes back, alone
    plan = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", config_path)
    assert plan.returncode == 0, plan.stderr
    planned = {
        part.strip()
        for line in plan.stdout.splitlines()
        if line.strip().startswith("output:")
        for part in line.split(":", 1)[1].split(",")
    }
    stage = "results/demo/runs/digits/mlp/seed0/magnitude/round1"
    assert planned == {
        f"{stage}/model.safetensors",
        f"{stage}/model.onnx",
        f"{stage}/export.parquet",
        "results/demo/exports.parquet",
        "results/demo/tables/deployment/digits.md",
        "results/demo/tables/deployment/digits.html",
        "results/demo/tables/deployment/digits.csv",
    }
