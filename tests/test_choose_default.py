"""scripts/choose_default.py on made-up ablation tables: ranks per run, a cell's runs
averaged, the best mean rank chosen, ties broken by validation top-1, and a table missing
from the checkout read from its README block."""

from __future__ import annotations

import importlib.util

import pytest
import yaml

from helpers import REPO

spec = importlib.util.spec_from_file_location("choose_default", REPO / "scripts/choose_default.py")
choose_default = importlib.util.module_from_spec(spec)
spec.loader.exec_module(choose_default)

HEADER = "| Model | Method | allocation | Dense top-1 (%) | Val top-1 at 15x (%) |\n|:--|:--|:--|--:|--:|\n"


def table(model: str, values: dict[str, float]) -> str:
    rows = "".join(
        f"| {model} | {'**' + m + '**' if i == 0 else m} | x | 90 | {v:.2f} |\n"
        for i, (m, v) in enumerate(values.items())
    )
    return "# An ablation table\n\n" + HEADER + rows + "\nA footnote.\n"


def write_spec(tmp_path, runs):
    spec = {
        "candidates": {"A": {"allocation": "a"}, "B": {"allocation": "b"}, "C": {"allocation": "c"}},
        "rule": "best mean rank",
        "runs": runs,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_of(path, dataset, protocol, names=("wm_a", "wm_b", "wm_c")):
    return {"table": path, "dataset": dataset, "protocol": protocol, "readings": dict(zip("ABC", names))}


def test_ranks_per_run_averaged_per_cell_then_over_cells(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r/one.md").write_text(table("net", {"wm_a": 80.0, "wm_b": 81.0, "wm_c": 79.0}))  # B A C
    (tmp_path / "r/two.md").write_text(table("net", {"wm_a": 82.0, "wm_b": 80.0, "wm_c": 81.0}))  # A C B
    two = (tmp_path / "r/two.md").read_text().replace("| 82.00 |", "| 82.00 ± 0.50 |")  # two seeds: mean ± std
    (tmp_path / "r/two.md").write_text(two)
    (tmp_path / "r/three.md").write_text(table("other", {"wm_a": 60.0, "wm_b": 59.0, "wm_c": 62.0}))  # C A B
    spec = write_spec(
        tmp_path,
        [
            run_of("r/one.md", "D", "short"),
            run_of("r/two.md", "D", "long"),  # same cell as one.md: its ranks are averaged
            run_of("r/three.md", "D", "short"),
        ],
    )
    frame = choose_default.evidence(yaml.safe_load(spec.read_text()), tmp_path, tmp_path / "README.md")
    assert frame.set_index(["run", "candidate"])["rank"].to_dict()[("net / D, short", "B")] == 1
    summary = choose_default.choose(frame)
    # cell net/D: A (2+1)/2 = 1.5, B (1+3)/2 = 2, C (3+2)/2 = 2.5; cell other/D: C 1, A 2, B 3
    assert summary["mean_rank"].to_dict() == pytest.approx({"A": 1.75, "B": 2.5, "C": 1.75})
    assert list(summary.index) == ["C", "A", "B"]  # A and C tie on rank: C has the higher mean val top-1
    out = tmp_path / "choice.md"
    assert choose_default.main(["--spec", str(spec), "--root", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "Chosen: C ({'allocation': 'c'})" in text and "| mean rank over cells" in text


def test_a_table_not_in_the_checkout_is_read_from_its_readme_block_and_a_missing_one_is_named(tmp_path):
    readme = tmp_path / "README.md"
    body = "".join(
        line + "\n"
        for line in table("net", {"wm_a": 1.0, "wm_b": 3.0, "wm_c": 2.0}).splitlines()
        if line.startswith("|")
    )
    readme.write_text(f"Intro\n<!-- table: results/x/tables/t.md -->\n{body}<!-- end table -->\n")
    spec = yaml.safe_load(write_spec(tmp_path, [run_of("results/x/tables/t.md", "D", "p")]).read_text())
    frame = choose_default.evidence(spec, tmp_path, readme)
    assert frame["source"].iloc[0] == "README.md (copy of results/x/tables/t.md)"
    assert choose_default.choose(frame).index[0] == "B"
    spec["runs"].append(run_of("results/y/tables/gone.md", "D", "p"))
    with pytest.raises(SystemExit, match="results/y/tables/gone.md is neither in this checkout nor embedded"):
        choose_default.evidence(spec, tmp_path, readme)
    spec["runs"] = [run_of("results/x/tables/t.md", "D", "p", names=("wm_a", "wm_b", "wm_z"))]
    with pytest.raises(SystemExit, match="no row for net / wm_z"):
        choose_default.evidence(spec, tmp_path, readme)
