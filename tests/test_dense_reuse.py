"""A dense model is trained once per recipe: the train step copies another experiment's
finished dense run of the same settings (weightmom.training.reuse), and trains its own
when anything that decides the weights differs."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from weightmom.steps import train as train_step
from weightmom.steps.train import train_dense
from weightmom.training.checkpoint import load_checkpoint

RECIPE = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


def _dense(root, exp, data_dir, recipe=RECIPE, seed=0, snapshot_epochs=(), accelerator=None):
    out = root / exp / "runs/digits/mlp" / f"seed{seed}" / "dense/checkpoint.pt"
    train_dense(
        data_dir=data_dir,
        dataset="digits",
        model_name="mlp",
        seed=seed,
        recipe=recipe,
        snapshot_epochs=snapshot_epochs,
        accelerator=accelerator,
        device="cpu",
        out=out,
        reuse_from=str(root / "*/runs/digits/mlp" / f"seed{seed}" / "dense"),
        reuse_lock_dir=root / ".dense-locks",
    )
    return out


class Trainings:
    """Counts the dense trainings the step runs."""

    def __init__(self, monkeypatch):
        self.count = 0
        real = train_step._train_dense

        def counted(inputs):
            self.count += 1
            return real(inputs)

        monkeypatch.setattr(train_step, "_train_dense", counted)


@pytest.fixture
def first(tmp_path, digits_dir, monkeypatch):
    trainings = Trainings(monkeypatch)
    out = _dense(tmp_path, "first", digits_dir)
    assert trainings.count == 1
    return tmp_path, out, trainings


def test_a_second_experiment_copies_the_dense_run_byte_for_byte(first, digits_dir, capsys):
    root, out, trainings = first
    second = _dense(root, "second", digits_dir)
    assert trainings.count == 1, "the second experiment trained its own dense model"
    for name in ("checkpoint.pt", "curve.parquet", "settings.json"):
        assert (second.parent / name).read_bytes() == (out.parent / name).read_bytes(), name
    assert "reused from" in capsys.readouterr().err
    assert json.loads((second.parent / "reused_from.json").read_text())["copied_from"] == str(out.parent)
    assert (
        load_checkpoint(second).settings["dense_key"]
        == json.loads((out.parent / "settings.json").read_text())["dense_key"]
    )


def test_a_copy_of_the_same_data_elsewhere_shares_the_run(first, digits_dir, tmp_path_factory):
    root, _, trainings = first
    elsewhere = tmp_path_factory.mktemp("second-data")
    for name in ("train.npz", "val.npz", "test.npz"):
        shutil.copy(digits_dir / name, elsewhere / name)
    _dense(root, "second", elsewhere)
    assert trainings.count == 1


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"recipe": {**RECIPE, "lr": 0.04}}, id="recipe"),
        pytest.param({"seed": 1}, id="seed"),
        pytest.param({"snapshot_epochs": [0]}, id="snapshots"),
        pytest.param({"accelerator": {"channels_last": False}}, id="accelerator"),
    ],
)
def test_other_dense_settings_train_their_own(first, digits_dir, change):
    root, _, trainings = first
    _dense(root, "second", digits_dir, **change)
    assert trainings.count == 2


def test_other_data_trains_its_own(first, digits_dir, tmp_path_factory):
    import numpy as np

    root, _, trainings = first
    other = tmp_path_factory.mktemp("other-data")
    for name in ("train.npz", "val.npz", "test.npz"):
        shutil.copy(digits_dir / name, other / name)
    with np.load(other / "val.npz") as val:
        arrays = dict(val)
    arrays[next(iter(arrays))] = arrays[next(iter(arrays))][::-1].copy()
    np.savez(other / "val.npz", **arrays)
    _dense(root, "second", other)
    assert trainings.count == 2


def test_a_damaged_run_is_passed_over_not_copied(first, digits_dir):
    root, out, trainings = first
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    second = _dense(root, "second", digits_dir)
    assert trainings.count == 2
    load_checkpoint(second)


def test_two_experiments_at_once_train_once(tmp_path, digits_dir, monkeypatch):
    trainings = Trainings(monkeypatch)
    errors = []

    def run(exp):
        try:
            _dense(tmp_path, exp, digits_dir)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(exp,)) for exp in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert trainings.count == 1


def test_other_training_code_trains_its_own(first, digits_dir, monkeypatch):
    root, _, trainings = first
    monkeypatch.setattr(train_step, "step_digest", lambda step: "another-digest")
    _dense(root, "second", digits_dir)
    assert trainings.count == 2


def test_a_copy_clears_a_stale_resume_file(first, digits_dir):
    root, _, trainings = first
    stale = root / "second/runs/digits/mlp/seed0/dense/resume.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an interrupted run of the same settings")
    _dense(root, "second", digits_dir)
    assert trainings.count == 1 and not stale.exists()


def test_reuse_wants_a_shared_lock_folder(tmp_path, digits_dir):
    from weightmom.errors import SpecError

    with pytest.raises(SpecError, match="--reuse-from needs --reuse-lock-dir"):
        train_dense(
            data_dir=digits_dir,
            dataset="digits",
            model_name="mlp",
            seed=0,
            recipe=RECIPE,
            device="cpu",
            out=tmp_path / "x/checkpoint.pt",
            reuse_from=str(tmp_path / "*/dense"),
        )
