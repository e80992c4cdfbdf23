"""Choose WeightMom's default reading across every (dataset, model) cell with evidence.

The runs, the candidates and the rule are data (scripts/default_choice.yaml), stated before
the evidence is read. Each run is an ablation table the pipeline wrote (its Markdown file,
or where its results are not in this checkout, its copy in the README or docs/); every model
of a table is a cell. Validation top-1 at the target decides, never test.

    python scripts/choose_default.py                 # print the evidence table and the choice
    python scripts/choose_default.py --out results/default-choice.md
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = re.compile(r"Val top-1 at .*\(%\)")


def markdown_rows(text: str) -> pd.DataFrame:
    """The first Markdown table in `text`, every cell a stripped string, bold marks removed."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    if len(lines) < 3:
        raise ValueError("no Markdown table")
    cells = [[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in lines]
    return pd.DataFrame(cells[2:], columns=cells[0])


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def table_text(path: str, root: Path, readme: Path | list[Path]) -> tuple[str, str]:
    """(text, where it was read): the table file, else its block in the README or a docs page
    (`readme`: one page or several, searched in order)."""
    if (root / path).is_file():
        return (root / path).read_text(), path
    readmes = [readme] if isinstance(readme, Path) else readme
    for page in readmes:
        match = re.search(rf"<!-- table: {re.escape(path)} -->\n(.*?)<!-- end table -->", page.read_text(), re.S)
        if match is not None:
            return match[1], f"{_name(page)} (copy of {path})"
    where = ", ".join(map(_name, readmes))
    raise SystemExit(f"choose_default: {path} is neither in this checkout nor embedded in {where}")


def evidence(spec: dict, root: Path, readme: Path | list[Path]) -> pd.DataFrame:
    """One row per (run, model, candidate): validation top-1 at the target and its rank
    among the candidates in that run and model."""
    rows = []
    for index, run in enumerate(spec["runs"]):
        text, source = table_text(run["table"], root, readme)
        table = markdown_rows(text)
        column = next(c for c in table.columns if VALIDATION.fullmatch(c))
        by_method = table.set_index(["Model", "Method"])[column]
        for model in dict.fromkeys(table["Model"]):
            for candidate, method in run["readings"].items():
                if (model, method) not in by_method.index:
                    raise SystemExit(f"choose_default: {source} has no row for {model} / {method} ({candidate})")
                rows.append(
                    {
                        "cell": f"{model} / {run['dataset']}",
                        "run": f"{model} / {run['dataset']}, {run['protocol']}",
                        "run_index": (index, model),
                        "source": source,
                        "candidate": candidate,
                        "val_top1": float(by_method[(model, method)].split()[0]),  # "mean" or "mean ± std"
                    }
                )
    frame = pd.DataFrame(rows)
    frame["rank"] = frame.groupby("run_index")["val_top1"].rank(ascending=False, method="average")
    return frame


def choose(frame: pd.DataFrame) -> pd.DataFrame:
    """Candidates by mean rank over cells (a cell's rank: the mean over its runs), best first,
    ties broken by the higher mean validation top-1."""
    cells = frame.groupby(["cell", "candidate"]).agg(rank=("rank", "mean"), val_top1=("val_top1", "mean"))
    summary = cells.groupby("candidate").agg(mean_rank=("rank", "mean"), mean_val_top1=("val_top1", "mean"))
    return summary.sort_values(["mean_rank", "mean_val_top1"], ascending=[True, False])


def to_markdown(frame: pd.DataFrame, summary: pd.DataFrame) -> str:
    order = list(summary.index)
    wide = frame.pivot(index="run", columns="candidate", values="val_top1")[order]
    ranks = frame.pivot(index="run", columns="candidate", values="rank")[order]
    cells = (wide.map("{:.2f}".format) + " (" + ranks.map("{:g}".format) + ")").reindex(
        list(dict.fromkeys(frame["run"]))
    )
    mean = [f"**{r:.2f}**" if i == 0 else f"{r:.2f}" for i, r in enumerate(summary["mean_rank"])]
    rows = pd.concat([cells, pd.DataFrame([mean], columns=order, index=["mean rank over cells"])])
    return (
        rows.rename_axis("Run: validation top-1 at 15x, % (rank)")
        .reset_index()
        .to_markdown(index=False, disable_numparse=True)
        + "\n"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=ROOT / "scripts/default_choice.yaml")
    parser.add_argument("--root", type=Path, default=ROOT, help="where the tables' paths start")
    parser.add_argument(
        "--readme",
        type=Path,
        action="append",
        dest="readmes",
        help="a page whose table blocks stand in for missing tables (repeatable; default README.md and docs/*.md)",
    )
    parser.add_argument("--out", type=Path, help="also write the evidence table (Markdown) here")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.spec.read_text())
    frame = evidence(spec, args.root, args.readmes or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    summary = choose(frame)
    chosen = summary.index[0]
    text = (
        f"# WeightMom's default reading, chosen across cells\n\n{to_markdown(frame, summary)}\n"
        f"Rule: {spec['rule']}. Chosen: {chosen} ({spec['candidates'][chosen]}).\n"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
