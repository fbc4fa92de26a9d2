"""One report, two renderings: a self-contained HTML page and a Markdown page, from the same :class:`Document`.

The HTML file needs nothing else: the CSS is inline, the figures are embedded as base64 PNG, there is no script and
no network request, and the layout never needs horizontal scrolling (images shrink to the page, wide tables scroll
inside their own box, long commands wrap). The Markdown page links the figures by their relative paths.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionbench.runs import atomic_write_text

__all__ = ["Document", "Section", "Table", "Figure", "render_html", "render_markdown", "write_document",
           "markdown_to_html"]


@dataclass
class Table:
    """A table; cells are already formatted strings (the caller decides precision and units)."""

    columns: list[str]
    rows: list[list[str]]
    title: str = ""
    caption: str = ""


@dataclass
class Figure:
    """A PNG file (path relative to the report's folder) and its caption."""

    file: str
    caption: str


@dataclass
class Section:
    """A heading, paragraphs, bullet points, tables and figures, in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    code: list[str] = field(default_factory=list)


@dataclass
class Document:
    """A report: a title, a one-paragraph lead, and sections."""

    title: str
    lead: str = ""
    sections: list[Section] = field(default_factory=list)


_CSS = """
*{box-sizing:border-box}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;background:#fff;
margin:0 auto;max-width:64rem;padding:1rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
h1,h2,h3,p,li,figcaption,caption{overflow-wrap:anywhere}
.lead{font-size:1.05rem;color:#333}
.wrap{overflow-x:auto;max-width:100%;margin:.5rem 0 1rem}
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}
td.num{text-align:right;white-space:nowrap}
caption{caption-side:bottom;text-align:left;font-size:.85rem;color:#555;padding-top:.3rem}
figure{margin:1rem 0}
figure img{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:.9rem;color:#444;margin-top:.3rem}
pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere;font-size:.85rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
@media (max-width:600px){body{padding:.6rem;font-size:15px}table{font-size:.8rem}}
"""


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _inline(text: str) -> str:
    """Escape ``text`` and turn `backticks` into <code> (the only markup the paragraphs use)."""
    parts = str(text).split("`")
    return "".join(f"<code>{_esc(p)}</code>" if i % 2 else _esc(p) for i, p in enumerate(parts))


def _is_number(cell: str) -> bool:
    head = cell.strip().lstrip("+-−").split(" ")[0].rstrip("%")
    return bool(head) and head.replace(".", "", 1).replace(",", "").isdigit()


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{_inline(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_esc(c)}</td>' if _is_number(c) else f"<td>{_inline(c)}</td>"
                         for c in row) + "</tr>"
        for row in t.rows
    )
    caption = f"<caption>{_inline(t.caption)}</caption>" if t.caption else ""
    title = f"<h3>{_inline(t.title)}</h3>" if t.title else ""
    return f'{title}<div class="wrap"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure_html(fig: Figure, base: Path) -> str:
    path = base / fig.file
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        img = f'<img src="data:image/png;base64,{data}" alt="{_esc(fig.caption)}">'
    except OSError:
        img = f"<p><em>figure missing: {_esc(fig.file)}</em></p>"
    return f"<figure>{img}<figcaption>{_inline(fig.caption)}</figcaption></figure>"


def _head(title: str) -> list[str]:
    return ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"]


def render_html(doc: Document, base: str | Path) -> str:
    """The page as one HTML string; figures are read from ``base`` and embedded."""
    base = Path(base)
    out = [*_head(doc.title), f"<h1>{_inline(doc.title)}</h1>"]
    if doc.lead:
        out.append(f'<p class="lead">{_inline(doc.lead)}</p>')
    for sec in doc.sections:
        out.append(f"<section><h2>{_inline(sec.title)}</h2>")
        out += [f"<p>{_inline(p)}</p>" for p in sec.paragraphs]
        if sec.bullets:
            out.append("<ul>" + "".join(f"<li>{_inline(b)}</li>" for b in sec.bullets) + "</ul>")
        out += [f"<pre><code>{_esc(c)}</code></pre>" for c in sec.code]
        out += [_table_html(t) for t in sec.tables]
        out += [_figure_html(f, base) for f in sec.figures]
        out.append("</section>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _embed_images(body: str, base: Path) -> str:
    """Replace every ``<img src="relative.png">`` by the file's bytes as a data URL (a missing file stays a link)."""

    def repl(match: re.Match[str]) -> str:
        src = html.unescape(match.group(2))
        if src.startswith(("data:", "http:", "https:")):
            return match.group(0)
        try:
            data = base64.b64encode((base / src).read_bytes()).decode("ascii")
        except OSError:
            return match.group(0)
        return f'{match.group(1)}"data:image/png;base64,{data}"'

    return re.sub(r'(<img\s+src=)"([^"]*)"', repl, body)


def markdown_to_html(markdown: str, base: str | Path, title: str) -> str:
    """A Markdown page (such as comparison.md) as one self-contained HTML page: same CSS, figures embedded.

    Rendered with markdown-it (CommonMark plus tables, already installed with rich); raw HTML in the Markdown is
    escaped, never passed through.
    """
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    body = body.replace("<table>", '<div class="wrap"><table>').replace("</table>", "</table></div>")
    body = re.sub(r"<p>(<img [^>]*>)</p>\s*<p><em>(.*?)</em></p>",
                  r"<figure>\1<figcaption>\2</figcaption></figure>", body, flags=re.S)
    return "\n".join([*_head(title), _embed_images(body, Path(base)), "</body></html>\n"])


def md_cell(text: object) -> str:
    """A Markdown table cell: one line, pipes escaped, and ``<``, ``>``, ``&`` as entities, so a name from the
    user's files (``<script>`` as a class folder) shows as text in any Markdown viewer, never as markup."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
            .replace("\n", " "))


def md_code_cell(text: object) -> str:
    """A Markdown table cell showing ``text`` as code (a path): entities mean nothing inside a code span, so only the
    pipe is escaped; text holding a backtick falls back to :func:`md_cell`."""
    text = str(text).replace("\n", " ")
    return md_cell(text) if "`" in text else "`" + text.replace("|", "\\|") + "`"


def _table_md(t: Table) -> list[str]:
    lines = [f"### {t.title}", ""] if t.title else []
    lines.append("| " + " | ".join(md_cell(c) for c in t.columns) + " |")
    lines.append("|" + "|".join("---" for _ in t.columns) + "|")
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return [*lines, ""]


def render_markdown(doc: Document) -> str:
    """The page as Markdown; figures are linked by their relative paths."""
    lines = [f"# {doc.title}", ""]
    if doc.lead:
        lines += [doc.lead, ""]
    for sec in doc.sections:
        lines += [f"## {sec.title}", ""]
        for p in sec.paragraphs:
            lines += [p, ""]
        if sec.bullets:
            lines += [f"- {b}" for b in sec.bullets] + [""]
        for c in sec.code:
            lines += ["```", c, "```", ""]
        for t in sec.tables:
            lines += _table_md(t)
        for f in sec.figures:
            lines += [f"![{f.caption}]({f.file})", "", f"*{f.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_document(doc: Document, folder: str | Path, stem: str = "report") -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.md`` into ``folder`` (atomically) and return their paths."""
    folder = Path(folder)
    html_path, md_path = folder / f"{stem}.html", folder / f"{stem}.md"
    atomic_write_text(html_path, render_html(doc, folder))
    atomic_write_text(md_path, render_markdown(doc))
    return html_path, md_path


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table: ``n/a`` for None, integers as they are, floats with ``digits`` significant decimals."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** (-digits)):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_row(cells: Sequence[Any], digits: int = 3) -> list[str]:
    return [fmt(c, digits) for c in cells]
