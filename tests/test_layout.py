"""The package's layout: stage subpackages, each saying what it owns, imports that only run
down the pipeline, and the public entry points that must survive a move."""

from __future__ import annotations

import ast
import importlib
import re
import runpy
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import weightmom

PACKAGE = Path(weightmom.__file__).parent

#: lowest first: a module may import its own stage or one listed before it (weightmom/__init__.py)
STAGES = [
    "foundations",
    "provenance",
    "data",
    "models",
    "evaluation",
    "training",
    "pruning",
    "export",
    "runtime",
    "reporting",
    "steps",
    "cli",
]
TOP_LEVEL_ON_TOP = {"cli", "__main__", "__init__"}  # the dispatcher and the package itself


def _modules() -> dict[str, Path]:
    return {
        ".".join(("weightmom", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "cli"  # weightmom/__init__.py: the package's front, above everything
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "cli" if parts[1] in TOP_LEVEL_ON_TOP else "foundations"


def _imported(path: Path) -> set[str]:
    """weightmom modules named by any import statement in the file, top level or in a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; the layout test reads absolute names"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    modules = _modules()
    return {name for name in found if name in modules and name != "weightmom"}


def test_every_stage_is_a_package_or_the_top_level():
    packages = sorted(path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file())
    assert sorted(set(STAGES) - {"foundations", "cli"}) == packages


def test_the_package_docstring_lists_the_stages_in_import_order():
    text = weightmom.__doc__
    positions = [text.index(f"\n    {stage} ") for stage in STAGES]
    assert positions == sorted(positions)


def test_each_subpackage_says_what_it_owns():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init} needs a docstring saying what the package owns"


def test_at_most_a_dozen_modules_at_the_top_level():
    top = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top) <= 12, top


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_run_down_the_pipeline(module):
    rank = STAGES.index(_stage(module))
    upward = sorted(name for name in _imported(_modules()[module]) if STAGES.index(_stage(name)) > rank)
    assert not upward, f"{module} ({_stage(module)}) imports a later stage: " + ", ".join(
        f"{name} ({_stage(name)})" for name in upward
    )


def test_foundations_stay_free_of_torch():
    """The workflow reads these before any job (config check, code digests) without torch."""
    names = [name for name in _modules() if _stage(name) == "foundations"]
    code = "import sys\n" + "".join(f"import {name}\n" for name in names) + "assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_what_the_workflow_imports_before_any_job_stays_free_of_torch():
    """Snakemake imports these when it reads the workflow (the config check, code digests,
    the plan): loading torch there would slow every `snakemake` command, `-n` included."""
    repo = PACKAGE.parent.parent
    sources = [repo / "Snakefile", *(repo / "workflow/rules").glob("*.smk"), *(repo / "workflow/lib").glob("*.py")]
    found = set()
    for source in sources:
        found.update(
            re.findall(r"^\s*from (weightmom[\w.]*) import|^\s*import (weightmom[\w.]*)", source.read_text(), re.M)
        )
    names = sorted({name for pair in found for name in pair if name})
    assert "weightmom.provenance.codeversion" in names  # the test reads what it should
    code = (
        "import sys\n" + "".join(f"import {name}\n" for name in names) + "assert 'torch' not in sys.modules, sys.argv"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_layout_test_sees_an_upward_import(tmp_path):
    """The check itself: an import from a later stage is found where it hides, in a function."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from weightmom.reporting.tables import at_target\n")
    assert "weightmom.reporting.tables" in _imported(module)


def test_the_public_entry_points_still_work(monkeypatch, capsys):
    """What users and installed plugins call: `python -m weightmom` (run here in-process as
    `-m` runs it), the `weightmom` script, the pruner entry-point group and the top-level
    loading API."""
    monkeypatch.setattr(sys, "argv", ["weightmom", "--help"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("weightmom", run_name="__main__", alter_sys=True)
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "train" in help_text and "prune" in help_text
    (script,) = entry_points(group="console_scripts", name="weightmom")
    assert script.load() is importlib.import_module("weightmom.cli").main
    from weightmom.pruner_files import ENTRY_POINT_GROUP

    assert ENTRY_POINT_GROUP == "weightmom.pruners"
    from weightmom import load_sparse_model, preprocess, sparse_info
    from weightmom.export import sparse_file

    assert (load_sparse_model, preprocess, sparse_info) == (
        sparse_file.load_sparse_model,
        sparse_file.preprocess,
        sparse_file.sparse_info,
    )
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        weightmom.nothing  # noqa: B018


def test_importing_the_package_loads_no_torch():
    subprocess.run([sys.executable, "-c", "import sys, weightmom; assert 'torch' not in sys.modules"], check=True)
