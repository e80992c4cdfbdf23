"""The sparse weight file: a pruned network in a safetensors file that stores no zeros.

A pruned weight tensor is stored as two tensors: `<name>:mask`, its mask packed one bit
per weight into uint8 (numpy's packbits, little bit order, row-major), and
`<name>:values`, the surviving weights in row-major order, in their own dtype. Every other
tensor of the state dict (biases, norms, running statistics, and a weight tensor whose
packed form would not be smaller) is stored as it is. For a float32 network at compression
C (weights / surviving weights) a pruned tensor of n weights therefore takes
n * (4 / C + 1 / 8) bytes instead of 4 n: the file is about 1/C + 1/32 of the dense one,
plus the tensors that are never pruned and a header of a few kilobytes.

The header's metadata says what network the weights are for (model name, input shape,
number of classes; and, when known, dataset, method, seed, round, class names and the
input normalisation), so that

    from weightmom.export.sparse_file import load_sparse_model
    model = load_sparse_model("model.safetensors")   # an nn.Module in eval mode
    logits = model(images)                            # images standardised as in training

gives the network back with the outputs it had when it was saved. The metadata also
holds a digest of the stored tensors: a damaged file is an error naming it, never a
silent load of different weights. `preprocess(images, sparse_info(path))` turns uint8
images (arrays or PIL images) into the batch the evaluation feeds the network: scaled to
[0, 1] and standardised with the training split's per-channel mean and std, by the
evaluation's own code (weightmom.data.splits.Split.normalise).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from weightmom.data.splits import Split
from weightmom.errors import DataError, WeightMomError
from weightmom.models import build_model
from weightmom.provenance.atomic import atomic_path
from weightmom.provenance.integrity import digest

FORMAT = "weightmom-sparse"
FORMAT_VERSION = 1
MASK = ":mask"
VALUES = ":values"
#: what `info` must hold: enough to build the network again
REQUIRED_INFO = ("model", "input_shape", "num_classes")


class SparseFileError(WeightMomError):
    """A sparse weight file is missing, damaged, or not for the network it is loaded into."""


@dataclass
class SparseFile:
    """A sparse weight file read back: the full state dict (pruned weights are zeros
    again), the masks of the tensors stored sparse, and the file's `info`."""

    state_dict: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    info: dict[str, Any] = field(default_factory=dict)

    def build(self, device: torch.device | str = "cpu") -> nn.Module:
        """The network with these weights, in eval mode, on `device`."""
        model = build_model(self.info["model"], tuple(self.info["input_shape"]), int(self.info["num_classes"]))
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def packed_bytes(numel: int, kept: int, itemsize: int) -> int:
    """Bytes of a tensor stored as bitmask and values."""
    return math.ceil(numel / 8) + kept * itemsize


def pack(
    state_dict: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors to store and the layout of those stored sparse ({name: {shape, dtype}}).

    A masked tensor is stored as mask and values when that is smaller than the tensor
    itself (it is not for a dense or barely pruned one); its pruned entries are dropped
    whatever they hold, so what is stored is the masked network."""
    tensors: dict[str, torch.Tensor] = {}
    layout: dict[str, Any] = {}
    unknown = sorted(set(masks) - set(state_dict))
    if unknown:
        raise ValueError(f"masks for tensors the state dict lacks: {unknown}")
    for name, tensor in state_dict.items():
        tensor = tensor.detach().cpu().contiguous()
        mask = masks.get(name)
        if mask is not None and mask.shape != tensor.shape:
            raise ValueError(f"mask {name!r} is {tuple(mask.shape)}, its tensor {tuple(tensor.shape)}")
        if (
            mask is None
            or packed_bytes(tensor.numel(), int(mask.sum()), tensor.element_size())
            >= tensor.numel() * tensor.element_size()
        ):
            tensors[name] = tensor.clone()
            continue
        flat = mask.detach().cpu().reshape(-1).to(torch.bool)
        bits = np.packbits(flat.numpy(), bitorder="little")
        tensors[name + MASK] = torch.from_numpy(bits)
        tensors[name + VALUES] = tensor.reshape(-1)[flat].clone()
        layout[name] = {"shape": list(tensor.shape), "dtype": str(tensor.dtype).removeprefix("torch.")}
    return tensors, layout


def save_sparse(
    path: str | Path,
    state_dict: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    info: Mapping[str, Any],
) -> None:
    """Write the masked `state_dict` to `path` (atomically). `info` (JSON values) must name
    the network: `model`, `input_shape`, `num_classes`."""
    from safetensors.torch import save

    missing = [key for key in REQUIRED_INFO if key not in info]
    if missing:
        raise ValueError(f"info lacks {missing}")
    tensors, layout = pack(state_dict, masks)
    info_text, layout_text = json.dumps(dict(info), sort_keys=True), json.dumps(layout, sort_keys=True)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "info": info_text,
        "layout": layout_text,
        "digest": digest({"tensors": tensors, "info": info_text, "layout": layout_text}),
    }
    data = save(tensors, metadata)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def load_sparse(path: str | Path) -> SparseFile:
    """Read a sparse weight file back, checked: a missing, truncated or damaged file, or
    one of another format, is a SparseFileError naming it."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SparseFileError(f"{path}: sparse weight file not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:  # safetensors reports a damaged header in several ways
        raise SparseFileError(
            f"{path}: unreadable sparse weight file (truncated or corrupt?): {exc}; delete it and rerun to remake it"
        ) from None
    if metadata.get("format") != FORMAT:
        raise SparseFileError(f"{path}: not a weightmom sparse weight file (no '{FORMAT}' format in its metadata)")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise SparseFileError(
            f"{path}: sparse file format version {metadata.get('format_version')}, this package reads {FORMAT_VERSION}"
        )
    info_text, layout_text = metadata.get("info", ""), metadata.get("layout", "")
    if metadata.get("digest") != digest({"tensors": tensors, "info": info_text, "layout": layout_text}):
        raise SparseFileError(
            f"{path}: contents do not match the digest stored in it (corrupted on disk or in transfer); "
            "delete it and rerun to remake it"
        )
    info, layout = json.loads(info_text), json.loads(layout_text)
    state_dict, masks = _unpack(path, tensors, layout)
    return SparseFile(state_dict, masks, info)


def _unpack(path: Path, tensors: dict[str, torch.Tensor], layout: Mapping[str, Any]) -> tuple[dict, dict]:
    state_dict: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    for name, spec in layout.items():
        try:
            bits, values = tensors.pop(name + MASK), tensors.pop(name + VALUES)
        except KeyError as missing:
            raise SparseFileError(f"{path}: tensor {missing} of the sparse tensor {name!r} is missing") from None
        numel = math.prod(spec["shape"])
        if bits.dtype != torch.uint8 or bits.numel() != math.ceil(numel / 8):
            raise SparseFileError(f"{path}: the mask of {name!r} does not fit its shape {spec['shape']}")
        flat = torch.from_numpy(np.unpackbits(bits.numpy(), count=numel, bitorder="little").astype(bool))
        if int(flat.sum()) != values.numel() or str(values.dtype).removeprefix("torch.") != spec["dtype"]:
            raise SparseFileError(
                f"{path}: {name!r} has {values.numel()} {values.dtype} values for {int(flat.sum())} kept {spec['dtype']} weights"
            )
        dense = torch.zeros(numel, dtype=values.dtype)
        dense[flat] = values
        state_dict[name] = dense.reshape(spec["shape"])
        masks[name] = flat.reshape(spec["shape"])
    clashes = sorted(set(tensors) & set(state_dict))
    if clashes:
        raise SparseFileError(f"{path}: tensors {clashes} are stored both sparse and dense")
    state_dict.update(tensors)
    return state_dict, masks


def sparse_info(path: str | Path) -> dict[str, Any]:
    """The `info` a sparse weight file was saved with (network, provenance, input
    normalisation), read after the same checks as load_sparse."""
    return load_sparse(path).info


def load_sparse_model(path: str | Path, device: torch.device | str = "cpu") -> nn.Module:
    """The network of a sparse weight file, weights restored, in eval mode on `device`."""
    loaded = load_sparse(path)
    missing = [key for key in REQUIRED_INFO if key not in loaded.info]
    if missing:
        raise SparseFileError(f"{path}: its metadata does not say which network it is for (lacks {missing})")
    try:
        return loaded.build(device)
    except (RuntimeError, WeightMomError) as exc:
        raise SparseFileError(f"{path}: weights do not fit model {loaded.info['model']!r}: {exc}") from None


#: the PIL mode an image file is converted to for a network of this many channels: RGB as
#: the imagefolder source reads files (weightmom.data.sources), L for a one-channel network
PIL_MODES = {1: "L", 3: "RGB"}


def preprocess(images: Any, info: Mapping[str, Any]) -> torch.Tensor:
    """`images` as the evaluation feeds them to the network of `info` (what sparse_info
    returns): a float32 batch (N, C, H, W) on the CPU, scaled from uint8 to [0, 1] and
    standardised with the training split's per-channel mean and std that `info` holds, by
    the code the evaluation runs on the prepared test split (Split.normalise).

    `images`: one image or a batch of them, each a PIL image (converted to the network's
    channels: RGB, as the imagefolder source reads image files, or L), or a uint8 array
    (numpy or torch) of shape H x W (one channel), H x W x C or C x H x W (the prepared
    splits' layout); a batch is a sequence of those or an array with a leading N. The images
    must have the network's size: the evaluation resizes nothing, so another size is an
    error, as is a float array (scaling to [0, 1] is part of this preprocessing)."""
    missing = [key for key in ("input_shape", "mean", "std") if key not in info]
    if missing:
        raise DataError(f"the network's info lacks {missing}: preprocess needs sparse_info(path) of an exported file")
    shape = tuple(int(size) for size in info["input_shape"])
    if isinstance(images, (list, tuple)):
        if not images:
            raise DataError("no images to preprocess")
        batch = np.concatenate([_as_batch(image, shape) for image in images])
    else:
        batch = _as_batch(images, shape)
    tensor = torch.from_numpy(np.array(batch, dtype=np.uint8, order="C"))  # a copy: PIL arrays are read-only
    split = Split(
        images=tensor,
        labels=torch.zeros(len(tensor), dtype=torch.int64),
        classes=tuple(str(name) for name in info.get("classes", ())),
        mean=torch.tensor(info["mean"], dtype=torch.float32),
        std=torch.tensor(info["std"], dtype=torch.float32),
    )
    return split.normalise(split.images)


def _as_batch(images: Any, shape: tuple[int, int, int]) -> np.ndarray:
    """One image or a batch as a uint8 array (N, C, H, W) for a network taking `shape` (C, H, W)."""
    from PIL import Image

    channels, height, width = shape
    if isinstance(images, Image.Image):
        if channels not in PIL_MODES:
            raise DataError(f"the network takes {channels}-channel images: give them as uint8 arrays, not PIL images")
        images = np.asarray(images.convert(PIL_MODES[channels]))
    elif isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise DataError(
            f"images must be uint8 (0..255), as the prepared splits hold them; got {array.dtype} "
            "(scaling to [0, 1] is part of preprocess)"
        )
    if array.ndim == 2:  # one H x W image
        array = array[None]
    if array.ndim == 3:
        # (N, H, W) one-channel images, else one image (C, H, W) or (H, W, C)
        array = array[:, None] if channels == 1 and array.shape[1:] == (height, width) else array[None]
    if array.ndim == 4 and array.shape[1:] == shape:
        return array
    if array.ndim == 4 and array.shape[1:] == (height, width, channels):
        return array.transpose(0, 3, 1, 2)
    raise DataError(
        f"images of shape {tuple(np.asarray(images).shape)}: the network takes {channels} x {height} x {width} "
        f"images (C x H x W, or H x W x C; with a leading N for a batch); preprocess resizes nothing"
    )
