"""The result tables of the README and docs/ are the pipeline's (scripts/readme_tables.py),
the hand-run commands of docs/outputs.md work, and every relative link of the README, docs/
and config/README.md leads to a file and heading that exist."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml

from helpers import REPO, copy_project, run_snakemake

SCRIPT = REPO / "scripts/readme_tables.py"
TABLE = "# A title\n\n| a | b |\n|:--|--:|\n| x | {value} |\n\nA footnote.\n"
#: the pages `make readme` fills: the README (the front door) and the docs it links to
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: the pages whose relative links are checked
LINKED_PAGES = [*PAGES, REPO / "config/README.md"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / f"scripts/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_blocks_are_checked_and_rewritten_from_the_tables(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t/one.md").write_text(TABLE.format(value=1))
    readme = tmp_path / "README.md"
    readme.write_text("Intro.\n<!-- table: t/one.md -->\n| a | b |\n|:--|--:|\n| x | 0 |\n<!-- end table -->\nOutro.\n")
    stale = _script("--check", "--readme", readme, "--root", tmp_path)
    assert stale.returncode == 1 and "t/one.md differs" in stale.stderr
    assert _script("--readme", readme, "--root", tmp_path).returncode == 0
    assert (
        readme.read_text()
        == "Intro.\n<!-- table: t/one.md -->\n| a | b |\n|:--|--:|\n| x | 1 |\n<!-- end table -->\nOutro.\n"
    )
    assert _script("--check", "--readme", readme, "--root", tmp_path).returncode == 0
    (tmp_path / "t/one.md").unlink()
    missing = _script("--check", "--readme", readme, "--root", tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_several_pages_are_checked_and_rewritten_together_and_by_default_readme_and_docs(tmp_path, monkeypatch):
    readme_tables = _load("readme_tables")
    (tmp_path / "t").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "t/one.md").write_text(TABLE.format(value=1))
    (tmp_path / "t/two.md").write_text(TABLE.format(value=2))
    stale = "| a | b |\n|:--|--:|\n| x | 0 |\n"
    (tmp_path / "README.md").write_text(f"<!-- table: t/one.md -->\n{stale}<!-- end table -->\n")
    (tmp_path / "docs/page.md").write_text(f"<!-- table: t/two.md -->\n{stale}<!-- end table -->\n")
    (tmp_path / "docs/plain.md").write_text("No table here.\n")
    monkeypatch.chdir(tmp_path)
    assert readme_tables.pages() == [Path("README.md"), Path("docs/page.md"), Path("docs/plain.md")]
    assert readme_tables.main(["--check"]) == 1
    assert readme_tables.main(["--readme", "docs/page.md"]) == 0  # one page alone
    assert (
        "| x | 2 |" in (tmp_path / "docs/page.md").read_text() and "| x | 0 |" in (tmp_path / "README.md").read_text()
    )
    assert readme_tables.main([]) == 0
    assert "| x | 1 |" in (tmp_path / "README.md").read_text()
    assert readme_tables.main(["--check"]) == 0
    assert readme_tables.main(["--check", "--only", "t/two"]) == 0
    assert readme_tables.main(["--check", "--readme", "docs/plain.md"]) == 1  # no block at all


def test_the_readme_and_docs_embed_every_experiments_tables_once():
    texts = {page.name: page.read_text() for page in PAGES}
    for path in (
        "results/demo/tables/digits.md",
        "results/demo/tables/digits_ablation.md",
        "results/cifar10-cpu/tables/cifar10_jpeg.md",
        "results/demo/tables/claims.md",
        "results/paper-cpu/tables/claims.md",
        "results/paper-gpu/tables/claims.md",
        "results/paper-cpu/tables/cifar10_jpeg.md",
        "results/paper-cpu/tables/cifar100_jpeg.md",
    ):
        assert sum(text.count(f"<!-- table: {path} -->") for text in texts.values()) == 1, path
    blocks = [path for text in texts.values() for path in re.findall(r"<!-- table: (\S+) -->", text)]
    assert len(blocks) == len(set(blocks)), "a table is embedded twice"
    for path in ("results/paper-gpu/tables/claims.md", "results/paper-cpu/tables/claims.md"):
        assert f"<!-- table: {path} -->" in texts["README.md"]  # the verdicts stay on the front door


def test_the_default_choices_evidence_is_in_this_checkout_or_embedded_in_the_readme_or_docs():
    """`make readme` runs scripts/choose_default.py, which reads a run's table from its copy in
    the README or docs/ where the run's results are not here."""
    choose_default = _load("choose_default")
    spec = yaml.safe_load((REPO / "scripts/default_choice.yaml").read_text())
    frame = choose_default.evidence(spec, REPO, PAGES)
    assert set(frame["run"]) and len(frame) == len(frame["run"].unique()) * len(spec["candidates"])


@pytest.mark.slow
def test_the_readmes_demo_tables_are_what_the_current_code_makes(tmp_path):
    workdir = copy_project(tmp_path)
    run = run_snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    pages = [argument for page in PAGES for argument in ("--readme", page)]
    check = _script("--check", *pages, "--root", workdir, "--only", "results/demo/")
    assert check.returncode == 0, check.stderr


def readme_hand_run_commands() -> list[str]:
    """The commands of the "Running a step by hand" block (docs/outputs.md), continuation lines joined."""
    text = (REPO / "docs/outputs.md").read_text()
    section = text.split("## Running a step by hand", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_readmes_hand_run_block_is_what_the_test_runs():
    commands = readme_hand_run_commands()
    assert all(command.startswith("python -m weightmom ") for command in commands)
    steps = [command.split()[3] for command in commands]
    assert steps == ["prepare", "train", "prune", "evaluate", "show", "--help"]


@pytest.mark.slow
def test_the_readmes_hand_run_commands_work(tmp_path):
    """Run as written, from an empty folder, on the digits data (trains a CNN: about 30 s on one thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    outputs = []
    for command in readme_hand_run_commands():
        arguments = [sys.executable, *shlex.split(command)[1:]]
        run = subprocess.run(arguments, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{command}\n{run.stderr[-2000:]}"
        outputs.append(run.stdout)
    round1 = tmp_path / "results/mine/runs/digits/cnn/seed0/magnitude/round1"
    assert {"checkpoint.pt", "settings.json", "metrics.parquet", "layers.parquet", "curve.parquet"} <= {
        p.name for p in round1.iterdir()
    }
    shown = outputs[4]
    assert "method magnitude, seed 0, round 1" in shown and "compression 4.00x" in shown and "test top-1 (%)" in shown
    assert "show" in outputs[5] and "compare" in outputs[5]


NUMBERS = REPO / "scripts/readme_numbers.py"
sys.path.insert(0, str(REPO / "scripts"))
import readme_numbers  # noqa: E402  (its duration format)


def _numbers(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, NUMBERS, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_a_stale_quoted_number_fails_the_check_and_make_readme_rewrites_it(tmp_path):
    measured = yaml.safe_load((REPO / "benchmarks/measurements.yaml").read_text())["demo"]
    page = tmp_path / "page.md"
    page.write_text(
        "The demo takes <!-- n:measured.demo -->1 s<!-- /n --> (<!-- n:measured.demo_date -->x<!-- /n -->).\n"
    )
    stale = _numbers("--check", page)
    assert stale.returncode == 1
    assert (
        f"page.md: measured.demo is {readme_numbers._duration(measured['seconds'])}, the text says 1 s" in stale.stderr
    )
    assert "run `make readme`" in stale.stderr
    assert _numbers(page).returncode == 0
    assert f"<!-- n:measured.demo_date -->{measured['date']}<!-- /n -->" in page.read_text()
    assert _numbers("--check", page).returncode == 0
    page.write_text("<!-- n:paper.speed_of_light -->1<!-- /n -->\n")
    unknown = _numbers("--check", page)
    assert unknown.returncode == 1 and "paper.speed_of_light --> is no known number" in unknown.stderr


@pytest.mark.slow
def test_every_number_quoted_in_the_readme_and_docs_is_what_the_code_computes_now():
    """Job and submission counts (dry runs), the paper grid's plan and GPU projection, and
    the measured times of benchmarks/measurements.yaml, wherever the text quotes them."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert sum("<!-- n:" in page.read_text() for page in pages) >= 1
    check = _numbers("--check", *pages)
    assert check.returncode == 0, check.stderr


# Relative links: every `[text](target)` of the README, docs/ and config/README.md whose
# target is no URL names a file that exists, and its #anchor a heading of that file, by
# GitHub's rule (lowercase; spaces to '-'; punctuation but '-' and '_' dropped; a repeated
# heading gets -1, -2, ...). Code (fenced blocks, `inline`) holds no links.

FENCE = re.compile(r"^ {0,3}(```|~~~)")
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code spans removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(re.sub(r"(`+).*?\1", "", line))
    return lines


def github_anchor(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes for a Markdown file: one per heading, and explicit <a id/name>."""
    found, seen = set(), {}
    lines, fenced = text.splitlines(), False
    for number, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = HEADING.match(line)
        previous = lines[number - 1].strip() if number else ""
        if heading is None and re.fullmatch(r" {0,3}(=+|-+)\s*", line) and previous and not previous.startswith("|"):
            heading = re.match(r"(.*)", previous)  # a setext heading: the line above
        if heading is None:
            continue
        anchor = github_anchor(heading[1])
        found.add(anchor if anchor not in seen else f"{anchor}-{seen[anchor]}")
        seen[anchor] = seen.get(anchor, 0) + 1
    return found | set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))


def broken_links(page: Path) -> list[str]:
    """'page: target (why)' for every relative link of `page` that leads nowhere."""
    broken = []
    for line in _prose_lines(page.read_text()):
        for target in LINK.findall(line):
            if not target or re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|//", target):
                continue  # a URL (http:, mailto:, ...) is not checked here
            path, _, anchor = target.partition("#")
            file = (page.parent / unquote(path)).resolve() if path else page
            if not file.exists():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
                broken.append(f"{page.name}: {target} (no heading #{anchor} in {file.name})")
    return broken


def test_github_anchors_of_headings():
    text = "# Title\n\n## What reruns when\n\n```sh\n# not a heading\n```\n\n### `device` (default `auto`)\n"
    text += "## Real CIFAR-10 on 2 CPU cores: the evidence for WeightMom's default\n## Title\n\nSetext\n---\n"
    assert anchors(text) == {
        "title",
        "what-reruns-when",
        "device-default-auto",
        "real-cifar-10-on-2-cpu-cores-the-evidence-for-weightmoms-default",
        "title-1",
        "setext",
    }


def test_a_broken_link_or_anchor_is_named(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/other.md").write_text("# Other\n\n## A section, here\n")
    page = tmp_path / "docs/page.md"
    page.write_text(
        "[ok](other.md#a-section-here) [ok](#mine) [ok](../docs/) [url](https://example.org/x#y) `[code](gone.md)`\n"
        "# Mine\n[gone](gone.md) [bad anchor](other.md#nowhere) [self](#nowhere-here)\n"
        "```\n[in code](gone.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: gone.md (no such file)",
        "page.md: other.md#nowhere (no heading #nowhere in other.md)",
        "page.md: #nowhere-here (no heading #nowhere-here in page.md)",
    ]


def test_every_relative_link_of_the_readme_docs_and_config_readme_leads_somewhere():
    assert all(page.is_file() for page in LINKED_PAGES)
    broken = [line for page in LINKED_PAGES for line in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_the_readme_is_a_front_door_that_links_every_docs_page():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 250, "the README is the front door: move detail into docs/"
    linked = {target.partition("#")[0] for line in _prose_lines(text) for target in LINK.findall(line)}
    for page in [*sorted((REPO / "docs").glob("*.md")), REPO / "config/README.md"]:
        assert str(page.relative_to(REPO)) in linked, f"the README's documentation map misses {page.relative_to(REPO)}"
