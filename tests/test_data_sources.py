"""Downloaded and user-supplied datasets through the real code path, and their failures."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

from weightmom import runs
from weightmom.datasets import load_split
from weightmom.errors import DataError

from fake_cifar import make_archive, serve

NAME = "cifar-10-python.tar.gz"


@pytest.fixture
def archive(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    info = make_archive(served / NAME)
    return served, info


def _spec(url, md5, source="cifar10", **extra):
    return {"source": source, "url": url, "md5": md5, "retries": 3, "timeout": 10, "split_seed": 0, **extra}


def _leftovers(raw_dir):
    return sorted(p.name for p in raw_dir.rglob("*")) if raw_dir.exists() else []


@pytest.mark.parametrize("source", ["cifar10", "cifar100"])
def test_download_check_and_prepare_over_http(tmp_path, source):
    served = tmp_path / "served"
    served.mkdir()
    name = NAME if source == "cifar10" else "cifar-100-python.tar.gz"
    info = make_archive(served / name, source)
    raw, prepared = tmp_path / "raw", tmp_path / "prepared"
    with serve(served) as (base, _):
        spec = _spec(f"{base}/{name}", info["md5"], source)
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


def test_file_url_and_a_placed_archive_are_accepted(archive, tmp_path):
    served, info = archive
    raw = tmp_path / "raw"
    runs.download_data(_spec((served / NAME).as_uri(), info["md5"]), raw)
    assert (raw / NAME).exists()
    placed = tmp_path / "placed"
    placed.mkdir()
    (placed / NAME).write_bytes((served / NAME).read_bytes())
    unreachable = "http://127.0.0.1:9/" + NAME  # never contacted: the placed copy matches
    runs.download_data(_spec(unreachable, info["md5"]), placed)
    runs.prepare_data(_spec(unreachable, info["md5"]), placed, tmp_path / "prepared")
    assert (tmp_path / "prepared/train.npz").exists()


def test_wrong_checksum_names_file_and_both_sums_and_leaves_nothing(archive, tmp_path):
    served, info = archive
    raw = tmp_path / "raw"
    wrong = "0" * 32
    with serve(served) as (base, _), pytest.raises(DataError) as error:
        runs.download_data(_spec(f"{base}/{NAME}", wrong), raw)
    message = str(error.value)
    assert NAME in message and wrong in message and info["md5"] in message
    assert _leftovers(raw) == []


def test_truncated_download_retries_then_fails_leaving_nothing(archive, tmp_path):
    served, info = archive
    raw = tmp_path / "raw"
    with serve(served, truncate=True) as (base, server), pytest.raises(DataError, match=f"{NAME}.*3 attempts"):
        runs.download_data(_spec(f"{base}/{NAME}", info["md5"]), raw)
    assert server.requests == 3
    assert _leftovers(raw) == []


def test_broken_transfer_is_retried(archive, tmp_path):
    served, info = archive
    raw = tmp_path / "raw"
    with serve(served, fail_first=2) as (base, server):
        runs.download_data(_spec(f"{base}/{NAME}", info["md5"]), raw)
    assert server.requests == 3
    assert (raw / NAME).read_bytes() == (served / NAME).read_bytes()


def test_unreachable_url_is_a_clear_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raw = tmp_path / "raw"
    with pytest.raises(DataError, match=f"127.0.0.1:{port}/{NAME}: download of {NAME} failed"):
        runs.download_data(_spec(f"http://127.0.0.1:{port}/{NAME}", "0" * 32, retries=2), raw)
    assert _leftovers(raw) == []


def test_prepare_refuses_and_deletes_a_placed_archive_with_the_wrong_checksum(archive, tmp_path):
    served, info = archive
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / NAME).write_bytes((served / NAME).read_bytes()[:-10])
    with pytest.raises(DataError, match=f"{NAME}: checksum mismatch, expected MD5 {info['md5']}"):
        runs.prepare_data(_spec("http://127.0.0.1:9/" + NAME, info["md5"]), raw, tmp_path / "prepared")
    assert not (raw / NAME).exists() and not (tmp_path / "prepared").exists()


def _image_folder(root, classes=("cat", "dog"), per_class=3, size=(32, 32), test_classes=None):
    rng = np.random.default_rng(0)
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for name in names:
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def test_imagefolder_is_prepared_with_its_classes(tmp_path):
    root = _image_folder(tmp_path / "images")
    runs.prepare_data({"source": "imagefolder", "root": str(root), "split_seed": 0}, tmp_path / "raw", tmp_path / "prepared")
    train = load_split(tmp_path / "prepared/train.npz")
    assert train.images.shape == (6, 3, 32, 32) and list(train.classes) == ["cat", "dog"]
    first = np.asarray(Image.open(root / "train/cat/0.png")).transpose(2, 0, 1)
    assert np.array_equal(train.images[0].numpy(), first)


@pytest.mark.parametrize(
    "layout, culprit",
    [
        ("empty_class", "bird"),
        ("mismatched", "only in train: ['dog'], only in test: ['fox']"),
        ("unreadable", "broken.png: unreadable image"),
        ("mixed_sizes", "set `resize`"),
    ],
)
def test_bad_image_folders_name_the_culprit(tmp_path, layout, culprit):
    root = tmp_path / "images"
    if layout == "mismatched":
        _image_folder(root, test_classes=("cat", "fox"))
    else:
        _image_folder(root)
    if layout == "empty_class":
        (root / "train/bird").mkdir()
        (root / "test/bird").mkdir()
    if layout == "unreadable":
        (root / "train/cat/broken.png").write_bytes(b"not an image")
    if layout == "mixed_sizes":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "train/dog/small.png")
    with pytest.raises(DataError, match=culprit.replace("[", r"\[").replace("]", r"\]").replace("`", "`")):
        runs.prepare_data({"source": "imagefolder", "root": str(root), "split_seed": 0}, tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_resize_and_subset(tmp_path):
    root = _image_folder(tmp_path / "images", per_class=10, size=(40, 40))
    spec = {"source": "imagefolder", "root": str(root), "resize": 32, "subset": {"train": 8}, "split_seed": 0}
    runs.prepare_data(spec, tmp_path / "raw", tmp_path / "prepared")
    train = load_split(tmp_path / "prepared/train.npz")
    assert train.images.shape == (8, 3, 32, 32)
    assert sorted(np.bincount(train.labels.numpy()).tolist()) == [4, 4]
    assert load_split(tmp_path / "prepared/test.npz").images.shape[0] == 20
