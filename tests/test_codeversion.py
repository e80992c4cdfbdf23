"""Which steps an edit of the package reruns: weightmom.provenance.codeversion on a copy of the package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from weightmom.provenance import codeversion
from weightmom.pruning import pruner_names

STEPS = [(step, None) for step in ("prepare", "train", "evaluate", "export", "report")] + [
    ("prune", p) for p in pruner_names()
]


@pytest.fixture
def package(tmp_path) -> Path:
    copy = tmp_path / "weightmom"
    shutil.copytree(codeversion.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _digests(root: Path) -> dict[tuple[str, str | None], str]:
    codeversion.step_digest.cache_clear()
    return {(step, pruner): codeversion.step_digest(step, pruner, root) for step, pruner in STEPS}


def _changed_by(package: Path, relative: str) -> set[tuple[str, str | None]]:
    assert (package / relative).is_file(), relative  # an edit of a file that does not exist proves nothing
    before = _digests(package)
    with open(package / relative, "a") as handle:
        handle.write("\n# an edit\n")
    after = _digests(package)
    return {key for key in before if before[key] != after[key]}


def test_the_copy_hashes_like_the_package(package):
    assert _digests(package) == _digests(codeversion.ROOT)


def test_editing_one_method_reruns_that_methods_rounds_alone(package):
    assert _changed_by(package, "pruning/methods/magnitude.py") == {("prune", "magnitude")}


def test_a_methods_options_schema_counts_as_its_code(package):
    assert _changed_by(package, "pruning/methods/weightmom.yaml") == {("prune", "weightmom")}


def test_shared_pruning_code_reruns_every_method(package):
    assert _changed_by(package, "pruning/allocation.py") == {("prune", p) for p in pruner_names()}


def test_training_code_reruns_training_and_pruning(package):
    assert _changed_by(package, "training/loop.py") == {("train", None)} | {("prune", p) for p in pruner_names()}


def test_device_code_reruns_training_pruning_and_evaluation(package):
    assert _changed_by(package, "runtime/devices.py") == {("train", None), ("evaluate", None)} | {
        ("prune", p) for p in pruner_names()
    }


def test_model_code_reruns_training_pruning_evaluation_and_export(package):
    assert _changed_by(package, "models/cifar.py") == {("train", None), ("evaluate", None), ("export", None)} | {
        ("prune", p) for p in pruner_names()
    }


def test_table_code_reruns_the_report_steps_alone(package):
    assert _changed_by(package, "reporting/tables.py") == {("report", None)}


def test_data_source_code_counts_for_preparing_alone(package):
    # what reads the remade data then reruns because its input is newer, as for any file
    assert _changed_by(package, "data/sources.py") == {("prepare", None)}
    assert _changed_by(package, "data/download.py") == {("prepare", None)}


def test_metric_code_reruns_evaluation_export_and_reports_not_training(package):
    assert _changed_by(package, "evaluation/metrics.py") == {("evaluate", None), ("export", None), ("report", None)}


def test_export_code_reruns_the_exports_alone(package):
    for module in ("export/sparse_file.py", "export/onnx_export.py", "export/latency.py", "steps/export.py"):
        assert _changed_by(package, module) == {("export", None)}, module
    assert _changed_by(package, "reporting/deployment.py") == {("report", None)}


def test_the_command_line_counts_for_every_step(package):
    assert _changed_by(package, "cli.py") == set(STEPS)


def test_a_pruner_registered_outside_the_package_counts_every_method(package):
    files = {path.name for path in codeversion.step_files("prune", "not_built_in", package)}
    assert {f"{p}.py" for p in ("magnitude", "weightmom", "lamp")} <= files
    assert {path.name for path in codeversion.step_files("prune", "magnitude", package)} & {
        "weightmom.py",
        "lamp.py",
    } == set()


def test_an_unknown_step_is_refused():
    with pytest.raises(ValueError, match="unknown step 'trian'"):
        codeversion.step_files("trian")
