"""The cuts to each job's fixed cost change nothing a job computes: SGD without the
torch._dynamo import steps exactly as torch.optim.SGD, and Parquet rows built without
pandas hold exactly the values given."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
import torch

from weightmom.evaluation.rows import rows_table
from weightmom.training.loop import EagerSGD


def _steps(optimizer_class, steps=4, momentum=0.9, weight_decay=5e-4):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    optimizer = optimizer_class(model.parameters(), lr=0.1, momentum=momentum, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        optimizer.zero_grad()
        inputs = torch.randn(8, 6, generator=generator)
        torch.nn.functional.cross_entropy(model(inputs), torch.randint(0, 3, (8,), generator=generator)).backward()
        optimizer.step()
    return model.state_dict(), optimizer.state_dict()


@pytest.mark.parametrize("momentum, weight_decay", [(0.9, 5e-4), (0.0, 0.0), (0.9, 0.0)])
def test_eager_sgd_steps_exactly_as_torch_sgd(momentum, weight_decay):
    (weights, state), (expected_weights, expected_state) = (
        _steps(optimizer, momentum=momentum, weight_decay=weight_decay) for optimizer in (EagerSGD, torch.optim.SGD)
    )
    for name in expected_weights:
        assert torch.equal(weights[name], expected_weights[name]), name
    for index, buffers in expected_state["state"].items():
        assert state["state"][index].keys() == buffers.keys()
        if buffers.get("momentum_buffer") is not None:
            assert torch.equal(state["state"][index]["momentum_buffer"], buffers["momentum_buffer"])
    assert state["param_groups"] == expected_state["param_groups"]


def test_their_states_load_into_each_other():
    _, state = _steps(EagerSGD)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(state)
    _, state = _steps(torch.optim.SGD)
    EagerSGD(model.parameters(), lr=0.1, momentum=0.9).load_state_dict(state)


def test_training_imports_neither_torch_dynamo_nor_pandas(tmp_path):
    """What the cuts are for: the first optimizer step and writing the curve load neither."""
    code = """
import sys
import torch
from weightmom.training.loop import make_optimizer
from weightmom.training.recipe import Recipe
from weightmom.evaluation.curves import write_curve
model = torch.nn.Linear(3, 2)
optimizer = make_optimizer(model, Recipe(1, 4, 0.1, 0.9, 0.0, "constant"))
model(torch.ones(1, 3)).sum().backward()
optimizer.step()
optimizer.zero_grad()
optimizer.state_dict()
identity = {"dataset": "d", "model": "m", "method": "dense", "seed": 0, "round": 0}
write_curve(identity, [{"epoch": 1, "train_loss": 0.5, "lr": 0.1, "val_top1": 50.0, "val_loss": 1.0, "seconds": 1.0}], sys.argv[1])
loaded = sorted(name for name in ("torch._dynamo", "pandas") if name in sys.modules)
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "curve.parquet")], check=True)


SCHEMA = pa.schema(
    [
        pa.field("name", pa.string()),
        pa.field("count", pa.int64()),
        pa.field("value", pa.float64()),
        pa.field("flag", pa.bool_()),
    ],
    metadata={b"version": b"1"},
)


def test_rows_hold_exactly_the_values_given():
    values = [math.nan, math.inf, -math.inf, -0.0, 0.1 + 0.2, 5e-324, 1.7976931348623157e308]
    rows = [{"name": f"r{i}", "count": i, "value": v, "flag": i % 2 == 0} for i, v in enumerate(values)]
    table = rows_table(rows, SCHEMA)
    assert table.schema == SCHEMA and table.schema.metadata == SCHEMA.metadata
    got = table.column("value").to_pylist()
    for expected, value in zip(values, got):
        assert (math.isnan(expected) and math.isnan(value)) or (
            value == expected and math.copysign(1, value) == math.copysign(1, expected)
        )
    assert table.column("count").to_pylist() == list(range(len(values)))


def test_rows_take_numpy_scalars_none_and_leave_out_unknown_keys():
    rows = [
        {"name": "a", "count": np.int64(3), "value": np.float32(0.5), "flag": np.bool_(True), "extra": 1},
        {"name": None, "count": None, "value": None, "flag": None},
    ]
    table = rows_table(rows, SCHEMA)
    assert table.to_pylist() == [
        {"name": "a", "count": 3, "value": 0.5, "flag": True},
        {"name": None, "count": None, "value": None, "flag": None},
    ]
    assert rows_table([], SCHEMA).num_rows == 0


def test_rows_refuse_what_json_cannot_hold():
    with pytest.raises(TypeError, match="object is not a JSON value"):
        rows_table([{"name": object(), "count": 1, "value": 1.0, "flag": True}], SCHEMA)


@pytest.mark.slow
def test_the_fixed_cost_benchmark_runs_through():
    """Its quick form: every step once under the timer, the breakdown and the goal line."""
    from helpers import REPO

    run = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/fixed_cost.py"), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for step in ("prepare", "train", "prune", "evaluate", "export"):
        assert f"  {step:<7} total " in run.stdout, step
    assert "import torch" in run.stdout and "training epochs" in run.stdout
    assert "goal: at most 2.5 s of fixed cost per training, pruning or evaluation job:" in run.stdout
