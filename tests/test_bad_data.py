"""Bad data: each case stops with an error naming the file, and leaves nothing a later run would trust."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile

import numpy as np
import pytest
from PIL import Image

from weightmom.data.splits import load_split
from weightmom.errors import DataError
from weightmom.steps.data import download_data, prepare_data

from fake_cifar import cifar_spec, serve
from fake_images import image_folder

NAME = "cifar-10-python.tar.gz"
NOWHERE = "http://127.0.0.1:9/" + NAME  # never contacted when the archive is already in place


def _files(directory):
    return sorted(p.name for p in directory.rglob("*")) if directory.exists() else []


def _placed(tmp_path, content: bytes):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / NAME).write_bytes(content)
    return raw


def test_wrong_checksum_names_file_and_both_sums_and_deletes_the_download(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw, wrong = tmp_path / "raw", "0" * 32
    with serve(served) as (base, _), pytest.raises(DataError) as error:
        download_data(cifar_spec(f"{base}/{NAME}", wrong), raw)
    assert str(error.value) == (
        f"{raw / NAME} from {base}/{NAME}: checksum mismatch, expected MD5 {wrong}, got {info['md5']}; the file was deleted"
    )
    assert _files(raw) == []


def test_truncated_transfer_is_retried_then_fails_leaving_nothing(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = tmp_path / "raw"
    with serve(served, truncate=True) as (base, server), pytest.raises(DataError) as error:
        download_data(cifar_spec(f"{base}/{NAME}", info["md5"]), raw)
    assert str(error.value).startswith(f"{base}/{NAME}: download of {NAME} failed after 3 attempts")
    assert server.requests == 3
    assert _files(raw) == []


def test_unreachable_url_names_it(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raw, url = tmp_path / "raw", f"http://127.0.0.1:{port}/{NAME}"
    with pytest.raises(DataError) as error:
        download_data(cifar_spec(url, "0" * 32, retries=2), raw)
    assert str(error.value).startswith(f"{url}: download of {NAME} failed after 2 attempts")
    assert _files(raw) == []


def test_placed_archive_with_a_wrong_checksum_is_refused_and_deleted(cifar_archive, tmp_path):
    served, info = cifar_archive
    raw = _placed(tmp_path, (served / NAME).read_bytes()[:-10])
    with pytest.raises(DataError) as error:
        prepare_data(cifar_spec(NOWHERE, info["md5"]), raw, tmp_path / "prepared")
    assert str(error.value).startswith(f"{raw / NAME}: checksum mismatch, expected MD5 {info['md5']}, got ")
    assert _files(raw) == [] and not (tmp_path / "prepared").exists()


def test_truncated_archive_whose_checksum_was_taken_from_it_cannot_be_unpacked(cifar_archive, tmp_path):
    served, _ = cifar_archive
    half = (served / NAME).read_bytes()[:3000]
    raw = _placed(tmp_path, half)
    with pytest.raises(DataError) as error:
        prepare_data(cifar_spec(NOWHERE, hashlib.md5(half).hexdigest()), raw, tmp_path / "prepared")
    assert str(error.value).startswith(f"{raw / NAME}: cannot be unpacked (")
    assert not (tmp_path / "prepared").exists()


def test_archive_of_something_else_names_the_missing_member(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member = tarfile.TarInfo("other/readme.txt")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"hello"))
    raw = _placed(tmp_path, buffer.getvalue())
    md5 = hashlib.md5(buffer.getvalue()).hexdigest()
    with pytest.raises(DataError) as error:
        prepare_data(cifar_spec(NOWHERE, md5), raw, tmp_path / "prepared")
    assert str(error.value) == (
        f"{raw}/unpacked-{md5}/cifar-10-batches-py/batches.meta: missing from the archive; "
        "is it the cifar-10-batches-py python version?"
    )
    assert not (tmp_path / "prepared").exists()


def _spec(root):
    return {"source": "imagefolder", "root": str(root), "split_seed": 0}


@pytest.mark.parametrize(
    "layout, message",
    [
        ("empty_class", "{root}/train: Found no valid file for the classes bird."),
        (
            "mismatched",
            "{root}: train/ and test/ have different classes (only in train: ['dog'], only in test: ['fox'])",
        ),
        ("unreadable", "{root}/train/cat/broken.png: unreadable image ("),
        (
            "mixed_sizes",
            "{root}/train/dog/small.png: image is 16x16, earlier ones are 32x32; set `resize` in the dataset's config entry",
        ),
        ("no_test", "{root}/test: no such folder; an imagefolder root holds train/<class>/ and test/<class>/"),
    ],
)
def test_bad_image_folders_name_the_culprit(tmp_path, layout, message):
    root = tmp_path / "images"
    image_folder(root, test_classes=("cat", "fox") if layout == "mismatched" else None)
    if layout == "empty_class":
        (root / "train/bird").mkdir()
        (root / "test/bird").mkdir()
    if layout == "unreadable":
        (root / "train/cat/broken.png").write_bytes(b"not an image")
    if layout == "mixed_sizes":
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(root / "train/dog/small.png")
    if layout == "no_test":
        for path in sorted((root / "test").rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        (root / "test").rmdir()
    with pytest.raises(DataError) as error:
        prepare_data(_spec(root), tmp_path / "raw", tmp_path / "prepared")
    assert str(error.value).startswith(message.format(root=root))
    assert not (tmp_path / "prepared").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "{path}: prepared split not found; run the prepare step first"),
        (b"not a zip", "{path}: unreadable prepared split ("),
    ],
)
def test_missing_or_corrupt_prepared_split_names_the_file(tmp_path, content, message):
    path = tmp_path / "train.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as error:
        load_split(path)
    assert str(error.value).startswith(message.format(path=path))


def test_local_archive_with_a_wrong_md5_is_refused_and_kept(tmp_path):
    root = image_folder(tmp_path / "images")
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname="images")
    spec = {"source": "imagefolder", "archive": str(archive), "md5": "0" * 32, "split_seed": 0}
    with pytest.raises(DataError) as error:
        prepare_data(spec, tmp_path / "raw", tmp_path / "prepared")
    assert str(error.value).startswith(f"{archive}: checksum mismatch, expected MD5 {'0' * 32}, got ")
    assert "put the new MD5 in the config" in str(error.value)
    assert archive.exists(), "a user's own archive must never be deleted"
    assert not (tmp_path / "prepared").exists()


def test_archive_without_train_and_test_folders_names_it(tmp_path):
    from weightmom.data.download import md5sum

    image_folder(tmp_path / "images")
    archive = tmp_path / "flat.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "images/train", arcname="a/b/train")
    spec = {"source": "imagefolder", "archive": str(archive), "md5": md5sum(archive), "split_seed": 0}
    with pytest.raises(
        DataError, match=r"flat.tar: holds no train/ and test/ folders at its top level or one folder down"
    ):
        prepare_data(spec, tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()


def test_too_few_images_for_a_validation_split_is_an_error(tmp_path):
    root = image_folder(tmp_path / "images", per_class=1)
    with pytest.raises(
        DataError, match=r"2 training images \(1 in the smallest class\) are too few to hold out a validation split"
    ):
        prepare_data(_spec(root), tmp_path / "raw", tmp_path / "prepared")
    assert not (tmp_path / "prepared").exists()
