"""The result tables as HTML pages, as the Snakemake report shows them: each opens on its own
in a browser, and the report's landing page (workflow/report/workflow.rst) embeds the paper
table's and the claims' pages whole (a browser ignores the nested html, head and body tags),
so every style rule is scoped to the page's `wm` class and none reaches the report around it. A table wider than the page scrolls inside its own box;
the page never gets wider. `**text**` in a cell (the Markdown tables' bold) is bold.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import pandas as pd

STYLE = (
    "<style>.wm{font:14px sans-serif;max-width:100%}.wm .scroll{overflow-x:auto;max-width:100%}"
    ".wm table{border-collapse:collapse;margin:4px 0}"
    ".wm th,.wm td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    ".wm th{background:#f3f3f3;white-space:normal;vertical-align:bottom}"
    ".wm td:first-child,.wm th:first-child,.wm table.wide td:nth-child(2),.wm table.wide th:nth-child(2)"
    "{text-align:left}.wm table.prose td{white-space:normal;text-align:left;max-width:60em}.wm table.prose th{text-align:left}"
    ".wm p{max-width:60em}</style>"
)
BOLD, BOLD_HTML = re.compile(r"[*][*](.+?)[*][*]"), r"<b>\1</b>"


def table(frame: pd.DataFrame, kind: str = "") -> str:
    """`frame` (cells already formatted) as an HTML table in its scroll box; `kind` is a class
    for its layout: `wide` (two label columns) or `prose` (cells that wrap)."""
    body = frame.to_html(index=False, escape=True, border=0, classes=kind or None)
    return f"<div class='scroll'>{BOLD.sub(BOLD_HTML, body)}</div>"


def rows_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An HTML table from header cells and rows of cell texts; a newline in a text is a line
    break."""

    def cell(text: str) -> str:
        return BOLD.sub(BOLD_HTML, html.escape(text)).replace("\n", "<br>")

    head = "".join(f"<th>{cell(text)}</th>" for text in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(text)}</td>" for text in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def page(title: str, parts: Sequence[str]) -> str:
    """A standalone page: the title as a heading, then `parts` (HTML) in order."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}</head>"
        f"<body><div class='wm'><h3>{html.escape(title)}</h3>{''.join(parts)}</div></body></html>\n"
    )


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"
