"""Downloaded and user-supplied datasets through the real code path (failures: test_bad_data.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from weightmom.data.splits import load_split
from weightmom.steps.data import download_data, prepare_data

from fake_cifar import cifar_spec, make_archive, serve
from fake_images import image_folder

NAME = "cifar-10-python.tar.gz"


@pytest.mark.parametrize("source", ["cifar10", "cifar100"])
def test_download_check_and_prepare_over_http(tmp_path, source):
    served = tmp_path / "served"
    served.mkdir()
    name = NAME if source == "cifar10" else "cifar-100-python.tar.gz"
    info = make_archive(served / name, source)
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    with serve(served) as (base, _):
        spec = cifar_spec(f"{base}/{name}", info["md5"], source)
        download_data(spec, raw)
    assert (raw / name).read_bytes() == (served / name).read_bytes()
    prepare_data(spec, raw, prepared)
    test = load_split(prepared / "test.npz")
    assert np.array_equal(test.images.numpy(), info["arrays"]["test"][0])
    assert np.array_equal(test.labels.numpy(), info["arrays"]["test"][1])
    assert list(test.classes) == info["classes"]
    train, val = load_split(prepared / "train.npz"), load_split(prepared / "val.npz")
    total = 100 if source == "cifar10" else 20
    assert 1 <= val.images.shape[0] <= max(round(0.1 * total), 1) + len(info["classes"])
    assert set(val.labels.tolist()) <= set(train.labels.tolist())  # a held-out class is also trained on
    assert train.images.shape[0] + val.images.shape[0] == total
    # train and validation are the archive's training images, split without loss or overlap
    assert _rows(np.concatenate([train.images.numpy(), val.images.numpy()])) == _rows(info["arrays"]["train"][0])


def _rows(images):
    return sorted(image.tobytes() for image in images)


def test_validation_split_is_stratified_seeded_and_held_out(tmp_path):
    spec = {"source": "digits", "test_fraction": 0.25, "split_seed": 0, "val_fraction": 0.2}
    prepare_data(spec, tmp_path / "raw", tmp_path / "a")
    prepare_data(spec, tmp_path / "raw", tmp_path / "b")
    prepare_data({**spec, "split_seed": 1}, tmp_path / "raw", tmp_path / "c")
    train, val = load_split(tmp_path / "a/train.npz"), load_split(tmp_path / "a/val.npz")
    assert val.images.shape[0] == round(0.2 * (train.images.shape[0] + val.images.shape[0]))
    shares = np.bincount(val.labels.numpy()) / np.bincount(train.labels.numpy())
    assert shares.max() - shares.min() < 0.05  # every class held out in the same proportion
    assert np.array_equal(load_split(tmp_path / "b/val.npz").images.numpy(), val.images.numpy())
    assert not np.array_equal(load_split(tmp_path / "c/val.npz").images.numpy(), val.images.numpy())
    # normalisation comes from the training part alone
    pixels = train.images.numpy().astype(np.float32) / 255.0
    assert np.allclose(train.mean.numpy(), pixels.mean(axis=(0, 2, 3)), atol=1e-6)


def test_a_class_with_one_training_image_keeps_it_for_training(tmp_path):
    from weightmom.data.datasets import carve_validation

    labels = np.array([0] * 10 + [1] * 10 + [2])
    images = np.arange(len(labels), dtype=np.uint8).reshape(-1, 1, 1, 1)
    (train_x, train_y, _), (val_x, val_y, _) = carve_validation((images, labels, ["a", "b", "c"]), 0.2, 0)
    assert sorted(val_y.tolist()) == [0, 0, 1, 1]
    assert 2 in train_y.tolist() and len(train_y) == 17
    assert sorted(np.concatenate([train_x, val_x]).ravel().tolist()) == list(range(21))


def _imagefolder_archive(tmp_path, per_class=3):
    """A tar.gz holding images/{train,test}/<class>/*.png under one top-level folder; its MD5."""
    import tarfile

    from weightmom.data.download import md5sum

    root = image_folder(tmp_path / "src" / "images", per_class=per_class)
    archive = tmp_path / "images.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="images")
    return root, archive, md5sum(archive)


def test_imagefolder_archive_from_a_path_and_over_http(tmp_path):
    root, archive, md5 = _imagefolder_archive(tmp_path)
    by_path = {"source": "imagefolder", "archive": str(archive), "md5": md5, "split_seed": 0}
    prepare_data(by_path, tmp_path / "raw-path", tmp_path / "by-path")
    by_folder = {"source": "imagefolder", "root": str(root), "split_seed": 0}
    prepare_data(by_folder, tmp_path / "raw-folder", tmp_path / "by-folder")
    with serve(archive.parent) as (base, _):
        by_http = {**by_path, "archive": f"{base}/{archive.name}", "retries": 1, "timeout": 10}
        download_data(by_http, tmp_path / "raw-http")
    prepare_data(by_http, tmp_path / "raw-http", tmp_path / "by-http")
    for split in ("train", "val", "test"):
        expected = load_split(tmp_path / "by-folder" / f"{split}.npz").images.numpy()
        for way in ("by-path", "by-http"):
            assert np.array_equal(load_split(tmp_path / way / f"{split}.npz").images.numpy(), expected)
    assert archive.exists()  # the user's archive is read in place, never moved


def test_file_url_and_a_placed_archive_are_accepted(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = tmp_path / "raw"
    download_data(cifar_spec((served / NAME).as_uri(), info["md5"]), raw)
    assert (raw / NAME).exists()
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / NAME).write_bytes((served / NAME).read_bytes())
    unreachable = "http://127.0.0.1:9/" + NAME  # never contacted: the placed copy matches
    download_data(cifar_spec(unreachable, info["md5"]), placed)
    prepare_data(cifar_spec(unreachable, info["md5"]), placed, tmp_path / "prepared")
    assert (tmp_path / "prepared/train.npz").exists()


def test_broken_transfer_is_retried(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = tmp_path / "raw"
    with serve(served, fail_first=2) as (base, server):
        download_data(cifar_spec(f"{base}/{NAME}", info["md5"]), raw)
    assert server.requests == 3
    assert (raw / NAME).read_bytes() == (served / NAME).read_bytes()


def test_imagefolder_is_prepared_with_its_classes(tmp_path):
    root = image_folder(tmp_path / "images")
    prepare_data({"source": "imagefolder", "root": str(root), "split_seed": 0}, tmp_path / "raw", tmp_path / "prepared")
    train, val = load_split(tmp_path / "prepared/train.npz"), load_split(tmp_path / "prepared/val.npz")
    assert train.images.shape == (4, 3, 32, 32) and list(train.classes) == ["cat", "dog"]
    assert val.images.shape == (2, 3, 32, 32) and sorted(val.labels.tolist()) == [0, 1]
    first = np.asarray(Image.open(root / "train/cat/0.png")).transpose(2, 0, 1)
    assert first.tobytes() in _rows(np.concatenate([train.images.numpy(), val.images.numpy()]))


def test_resize_and_subset(tmp_path):
    root = image_folder(tmp_path / "images", per_class=10, size=(40, 40))
    spec = {"source": "imagefolder", "root": str(root), "resize": 32, "subset": {"train": 8}, "split_seed": 0}
    prepare_data(spec, tmp_path / "raw", tmp_path / "prepared")
    train = load_split(tmp_path / "prepared/train.npz")
    assert train.images.shape == (6, 3, 32, 32)
    assert sorted(np.bincount(train.labels.numpy()).tolist()) == [3, 3]
    assert load_split(tmp_path / "prepared/test.npz").images.shape[0] == 20
