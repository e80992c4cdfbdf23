"""Keep the result tables of the README and docs/ equal to what the pipeline wrote.

Each block of README.md and docs/*.md between `<!-- table: PATH -->` and `<!-- end table -->`
holds the Markdown table of PATH (a table the workflow writes, e.g.
results/demo/tables/digits.md): its table lines, without the title and footnote around them.

    python scripts/readme_tables.py                  # rewrite every block whose file exists
    python scripts/readme_tables.py --check          # exit 1 naming each block that differs
    python scripts/readme_tables.py --check --root DIR --only results/demo/
                                                     # compare with the tables of a run in DIR
    python scripts/readme_tables.py --readme docs/method.md    # one page only (repeatable)

`make readme` runs the demo and then this script; the slow test tier runs the demo in a
fresh copy and checks its blocks.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BLOCK = re.compile(r"(<!-- table: (?P<path>\S+) -->\n)(?P<body>.*?)(<!-- end table -->)", re.S)


def table_lines(markdown: str) -> str:
    """The lines of the (first) Markdown table in `markdown`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def pages() -> list[Path]:
    """The pages with table blocks by default: README.md and docs/*.md (from the current folder)."""
    return [Path("README.md"), *sorted(Path("docs").glob("*.md"))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--readme",
        type=Path,
        action="append",
        dest="readmes",
        help="a page with table blocks (repeatable; default README.md and docs/*.md)",
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="where the tables' paths start")
    parser.add_argument("--only", default="", help="only blocks whose path starts with this")
    parser.add_argument("--check", action="store_true", help="compare, change nothing")
    args = parser.parse_args(argv)
    readmes = args.readmes or pages()

    differing, missing, seen, updates = [], [], 0, {}
    for readme in readmes:
        text = readme.read_text()

        def replace(match: re.Match, readme: Path = readme) -> str:
            nonlocal seen
            path = match["path"]
            if not path.startswith(args.only):
                return match[0]
            seen += 1
            source = args.root / path
            if not source.is_file():
                missing.append(path)
                return match[0]
            wanted = table_lines(source.read_text())
            if wanted != match["body"]:
                differing.append((readme, path))
            return match[1] + wanted + match[4]

        updated = BLOCK.sub(replace, text)
        if updated != text:
            updates[readme] = updated
    where = ", ".join(map(str, readmes))
    if seen == 0:
        print(f"readme_tables: no <!-- table: {args.only}... --> block in {where}", file=sys.stderr)
        return 1
    for path in missing:
        print(
            f"readme_tables: {args.root / path} does not exist (run its experiment first); block left as it is",
            file=sys.stderr,
        )
    if args.check:
        for readme, path in differing:
            print(
                f"readme_tables: {readme}: the table of {path} differs from {args.root / path}: run `make readme`",
                file=sys.stderr,
            )
        return 1 if differing or missing else 0
    for readme, updated in updates.items():
        readme.write_text(updated)
    print(f"readme_tables: {len(differing)} of {seen} table(s) updated in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
