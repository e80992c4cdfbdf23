"""Downloaded and user-supplied datasets through the real code path (failures: test_bad_data.py)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from weightmom import runs
from weightmom.datasets import load_split

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
        runs.download_data(spec, raw)
    assert (raw / name).read_bytes() == (served / name).read_bytes()
    runs.prepare_data(spec, raw, prepared)
    for split in ("train", "test"):
        loaded = load_split(prepared / f"{split}.npz")
        images, labels = info["arrays"][split]
        assert np.array_equal(loaded.images.numpy(), images)
        assert np.array_equal(loaded.labels.numpy(), labels)
        assert list(loaded.classes) == info["classes"]
    assert load_split(prepared / "train.npz").images.shape == (100 if source == "cifar10" else 20, 3, 32, 32)


def test_file_url_and_a_placed_archive_are_accepted(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = tmp_path / "raw"
    runs.download_data(cifar_spec((served / NAME).as_uri(), info["md5"]), raw)
    assert (raw / NAME).exists()
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / NAME).write_bytes((served / NAME).read_bytes())
    unreachable = "http://127.0.0.1:9/" + NAME  # never contacted: the placed copy matches
    runs.download_data(cifar_spec(unreachable, info["md5"]), placed)
    runs.prepare_data(cifar_spec(unreachable, info["md5"]), placed, tmp_path / "prepared")
    assert (tmp_path / "prepared/train.npz").exists()


def test_broken_transfer_is_retried(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = tmp_path / "raw"
    with serve(served, fail_first=2) as (base, server):
        runs.download_data(cifar_spec(f"{base}/{NAME}", info["md5"]), raw)
    assert server.requests == 3
    assert (raw / NAME).read_bytes() == (served / NAME).read_bytes()


def test_imagefolder_is_prepared_with_its_classes(tmp_path):
    root = image_folder(tmp_path / "images")
    runs.prepare_data({"source": "imagefolder", "root": str(root), "split_seed": 0}, tmp_path / "raw", tmp_path / "prepared")
    train = load_split(tmp_path / "prepared/train.npz")
    assert train.images.shape == (6, 3, 32, 32) and list(train.classes) == ["cat", "dog"]
    first = np.asarray(Image.open(root / "train/cat/0.png")).transpose(2, 0, 1)
    assert np.array_equal(train.images[0].numpy(), first)


def test_resize_and_subset(tmp_path):
    root = image_folder(tmp_path / "images", per_class=10, size=(40, 40))
    spec = {"source": "imagefolder", "root": str(root), "resize": 32, "subset": {"train": 8}, "split_seed": 0}
    runs.prepare_data(spec, tmp_path / "raw", tmp_path / "prepared")
    train = load_split(tmp_path / "prepared/train.npz")
    assert train.images.shape == (8, 3, 32, 32)
    assert sorted(np.bincount(train.labels.numpy()).tolist()) == [4, 4]
    assert load_split(tmp_path / "prepared/test.npz").images.shape[0] == 20
