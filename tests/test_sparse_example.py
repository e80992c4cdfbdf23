"""The exported network, usable as documented (issue 23): docs/outputs.md's example (load the
sparse weight file, preprocess an image file, print its class) run as written on real
images of the digits test split, saved as PNG files, names the class the evaluation path
predicts for them; and `preprocess` gives, bit for bit, the batch the evaluation feeds
the network, from every image form it takes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from weightmom.data.splits import Split, load_split
from weightmom.errors import DataError
from weightmom.evaluation.accuracy import predicted_labels
from weightmom.export.sparse_file import preprocess, sparse_info
from weightmom.steps.export import export_checkpoint
from weightmom.training.checkpoint import load_checkpoint

from helpers import REPO

#: the page with the exported-networks section (moved out of the README, issue 24)
GUIDE = REPO / "docs/outputs.md"
#: the sentence of its exported-networks section that the example block follows
README_MARK = "The example the tests run"


def readme_example() -> str:
    """The Python block after README_MARK in docs/outputs.md."""
    text = GUIDE.read_text()
    assert text.count(README_MARK) == 1, f"{GUIDE.name} has {text.count(README_MARK)} '{README_MARK}'"
    return text.split(README_MARK, 1)[1].split("```python\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture(scope="module")
def exported(dense_mlp, digits_dir, tmp_path_factory):
    """The dense MLP exported by the export step (its metadata: classes, mean, std)."""
    out = tmp_path_factory.mktemp("exported")
    torch.set_num_threads(1)
    export_checkpoint(
        checkpoint_path=dense_mlp,
        dense_checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        threads=1,
        repeats=1,
        budget_s=0.0,
        sparse_out=out / "model.safetensors",
        onnx_out=out / "model.onnx",
        rows_out=out / "export.parquet",
    )
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def test_split(digits_dir) -> Split:
    return load_split(digits_dir / "test.npz")


def test_the_readme_example_names_the_class_the_evaluation_predicts(
    exported, dense_mlp, test_split, tmp_path, monkeypatch, capsys
):
    example = readme_example()
    assert "preprocess(Image.open(" in example and 'info["classes"]' in example
    # the example's file names, where it looks for them: the sparse file at its path, the image beside
    model_path = example.split('path = "', 1)[1].split('"', 1)[0]
    image_name = example.split("Image.open(", 1)[1].split(")", 1)[0].strip("\"'")
    (tmp_path / model_path).parent.mkdir(parents=True)
    shutil.copy(exported, tmp_path / model_path)
    monkeypatch.chdir(tmp_path)
    evaluated = predicted_labels(load_checkpoint(dense_mlp).build(), test_split)
    # the first test image of every predicted class, and a misclassified one (the example
    # must say what the network predicts, not the label)
    chosen = {int(evaluated[i]): i for i in reversed(range(len(evaluated)))}
    wrong = torch.nonzero(evaluated != test_split.labels).flatten()
    images = sorted(chosen.values()) + [int(wrong[0])] if len(wrong) else sorted(chosen.values())
    assert len(set(evaluated[images].tolist())) >= 3
    for index in images:
        Image.fromarray(test_split.images[index, 0].numpy()).save(tmp_path / image_name)
        exec(compile(example, "docs/outputs.md", "exec"), {"__name__": "readme_example"})
        assert capsys.readouterr().out == f"{test_split.classes[evaluated[index]]}\n", index


def test_preprocess_is_the_evaluations_normalisation_bit_for_bit(exported, test_split, tmp_path):
    info = sparse_info(exported)
    assert info["mean"] == test_split.mean.tolist() and info["std"] == test_split.std.tolist()
    images = test_split.images[:5]  # (5, 1, 8, 8) uint8, the prepared split's layout
    expected = test_split.normalise(images)
    Image.fromarray(images[0, 0].numpy()).save(tmp_path / "digit.png")
    with Image.open(tmp_path / "digit.png") as image:
        assert torch.equal(preprocess(image, info), expected[:1])
        assert torch.equal(preprocess(image.convert("RGB"), info), expected[:1])  # back to L, losslessly
    forms = {
        "N x C x H x W tensor": images,
        "N x C x H x W array": images.numpy(),
        "N x H x W x C array": images.numpy().transpose(0, 2, 3, 1),
        "N x H x W array": images[:, 0].numpy(),
        "list of PIL images": [Image.fromarray(image[0].numpy()) for image in images],
        "list of H x W arrays": [image[0].numpy() for image in images],
    }
    for form, batch in forms.items():
        result = preprocess(batch, info)
        assert result.dtype == torch.float32 and torch.equal(result, expected), form
    assert torch.equal(preprocess(images[2, 0].numpy(), info), expected[2:3])  # one H x W image


def test_preprocess_takes_rgb_images_as_the_imagefolder_source_reads_them(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(2, 3, 4, 5), dtype=np.uint8)  # N, C, H, W
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    info = {"input_shape": [3, 4, 5], "mean": mean, "std": std, "classes": ["a", "b"]}
    split = Split(torch.from_numpy(images), torch.zeros(2), ("a", "b"), torch.tensor(mean), torch.tensor(std))
    expected = split.normalise(split.images)
    pictures = [Image.fromarray(image.transpose(1, 2, 0)) for image in images]  # RGB, 5 wide, 4 high
    pictures[0].save(tmp_path / "a.png")
    with Image.open(tmp_path / "a.png") as image:
        assert torch.equal(preprocess(image, info), expected[:1])
    assert torch.equal(preprocess(pictures, info), expected)
    assert torch.equal(preprocess(images.transpose(0, 2, 3, 1), info), expected)
    grey = Image.fromarray(images[0, 0])  # a one-channel file for an RGB network: grey in all three
    assert torch.equal(preprocess(grey, info), split.normalise(torch.from_numpy(images[:1, :1].repeat(3, axis=1))))


@pytest.mark.parametrize(
    ("images", "error"),
    [
        (np.zeros((8, 8), np.float32), "images must be uint8 (0..255), as the prepared splits hold them; got float32"),
        (np.zeros((16, 16), np.uint8), "images of shape (16, 16): the network takes 1 x 8 x 8 images"),
        (Image.new("L", (16, 16)), "images of shape (16, 16): the network takes 1 x 8 x 8 images"),
        (np.zeros((2, 3, 8, 8), np.uint8), "images of shape (2, 3, 8, 8): the network takes 1 x 8 x 8 images"),
        ([], "no images to preprocess"),
    ],
)
def test_preprocess_refuses_what_the_evaluation_would_not_take(images, error):
    info = {"input_shape": [1, 8, 8], "mean": [0.3], "std": [0.4]}
    with pytest.raises(DataError) as caught:
        preprocess(images, info)
    assert str(caught.value).startswith(error)
    assert "preprocess resizes nothing" in str(caught.value) or "shape" not in error
