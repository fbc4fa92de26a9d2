"""Names that come from the user's files (ImageFolder class folders) reach the reports as text, never as markup
(issue 13): a class named ``<script>...`` shows as those characters in comparison.html and comparison.md."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from visionbench.studies.compare import CompareConfig, run_comparison

HOSTILE = '<script>alert("x")</script>'
MD_HOSTILE = "<img src=x onerror=alert(1)>"


def test_hostile_class_names_are_text_in_every_report(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for c, name in enumerate([HOSTILE.replace("/", "_"), MD_HOSTILE.replace("/", "_"), "plain"]):
        (root / name).mkdir(parents=True)
        for i in range(8):
            Image.new("L", (8, 8), 30 * c + 3 * i).save(root / name / f"{i}.png")
    cc = CompareConfig(dataset=f"imagefolder:{root}", models=["mlp_small"], steps=3, isolate=False,
                       output_dir=str(tmp_path / "out"), train_overrides={"quiet": True, "threads": 1})
    result = run_comparison(cc)
    html = (result.out_dir / "comparison.html").read_text(encoding="utf-8")
    md = (result.out_dir / "comparison.md").read_text(encoding="utf-8")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html  # shown, as text
    assert "<script>" not in md and "<img src=x" not in md


def test_a_run_path_shows_as_itself_in_code(tmp_path: Path) -> None:
    # Inside a code span entities are literal: escaping '&' there showed "&amp;" to the reader.
    from visionbench.report.html import markdown_to_html, md_code_cell

    table = "| Run directory |\n| --- |\n| " + md_code_cell("runs/a&b<c>|d") + " |\n| " + md_code_cell("x`<y>") + " |\n"
    html = markdown_to_html(table, tmp_path, "t")
    assert "<code>runs/a&amp;b&lt;c&gt;|d</code>" in html  # the browser shows runs/a&b<c>|d
    assert "&amp;amp;" not in html and "<y>" not in html and "x`&lt;y&gt;" in html
