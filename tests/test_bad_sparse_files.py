"""Bad sparse weight files: every one is an error that names the file, never a silent load."""

from __future__ import annotations

import pytest
import torch

from weightmom.export.sparse_file import SparseFileError, load_sparse, load_sparse_model, save_sparse

INFO = {"model": "mlp", "input_shape": [1, 8, 8], "num_classes": 10}


@pytest.fixture
def sparse_file(tmp_path):
    torch.manual_seed(0)
    from weightmom.models import build_model, prunable_parameters

    model = build_model("mlp", (1, 8, 8), 10)
    masks = {name: torch.rand_like(w) < 0.1 for name, w in prunable_parameters(model).items()}
    path = tmp_path / "model.safetensors"
    save_sparse(path, model.state_dict(), masks, INFO)
    return path


def test_a_truncated_file_names_itself(sparse_file):
    sparse_file.write_bytes(sparse_file.read_bytes()[:-100])
    with pytest.raises(
        SparseFileError, match=rf"{sparse_file}: unreadable sparse weight file \(truncated or corrupt\?\)"
    ):
        load_sparse_model(sparse_file)


def test_flipped_bytes_in_the_values_are_caught_by_the_digest(sparse_file):
    data = bytearray(sparse_file.read_bytes())
    data[-40:-36] = bytes(b ^ 0xFF for b in data[-40:-36])  # inside the last tensor's data
    sparse_file.write_bytes(bytes(data))
    with pytest.raises(SparseFileError, match=rf"{sparse_file}: contents do not match the digest"):
        load_sparse(sparse_file)


def test_garbage_and_foreign_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(SparseFileError, match=rf"{garbage}: unreadable sparse weight file"):
        load_sparse(garbage)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(foreign))
    with pytest.raises(SparseFileError, match=rf"{foreign}: not a weightmom sparse weight file"):
        load_sparse(foreign)
    with pytest.raises(SparseFileError, match=rf"{tmp_path / 'missing.safetensors'}: sparse weight file not found"):
        load_sparse(tmp_path / "missing.safetensors")


def test_weights_for_another_network_are_refused(tmp_path, sparse_file):
    from weightmom.export.sparse_file import SparseFile

    loaded = load_sparse(sparse_file)
    wrong = tmp_path / "wrong.safetensors"
    save_sparse(wrong, loaded.state_dict, loaded.masks, {**INFO, "num_classes": 3})
    with pytest.raises(SparseFileError, match=rf"{wrong}: weights do not fit model 'mlp'"):
        load_sparse_model(wrong)
    assert isinstance(loaded, SparseFile)


def test_an_empty_file_names_itself(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(SparseFileError, match=rf"{empty}: unreadable sparse weight file"):
        load_sparse_model(empty)
