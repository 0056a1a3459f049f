"""The report build (``goldyolo_study.report``) on two tiny synthetic notebooks, and a failing one."""
from __future__ import annotations

import re
import subprocess

import nbformat
import pytest

from goldyolo.errors import InputError
from goldyolo_study import report
from goldyolo_study.__main__ import COMMANDS as STUDY_COMMANDS
from goldyolo_study.report import TITLE, ReportError, build_report, skip_all_but

from conftest import missing

PLOT = """import sys
import matplotlib.pyplot as plt
print("a log line for stderr", file=sys.stderr)
print("Compiling Operators(1/2) used: 1.0s eta: 1s")
print(f"N = {N}")
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, N])
plt.show()"""


def write_notebook(path, heading: str, code: str, section: str = "") -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('PROFILE = "full"\nN = 1', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_markdown_cell(f"# {heading}"),
                nbformat.v4.new_code_cell(code)]
    if section:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## {section}\n\nText."))
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two notebooks built with profile quick, N overridden in the second; the PDF when chromium exists."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "nb").mkdir()
    write_notebook(tmp / "nb" / "01_first.ipynb", "First notebook", PLOT)
    write_notebook(tmp / "nb" / "02_second.ipynb", "Second notebook", PLOT + "\nprint(PROFILE)",
                   section="A part of it, with `code`")
    html = build_report("quick", {"02_second": {"N": 7}}, root=tmp, notebooks_dir=tmp / "nb", out_dir=tmp / "out",
                        pdf=missing("needs_chromium") is None)
    return tmp, html


def outputs(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))


def test_parameters_are_injected(built):
    tmp, _ = built
    assert "N = 1" in outputs(tmp / "out" / "notebooks" / "01_first.ipynb")
    second = tmp / "out" / "notebooks" / "02_second.ipynb"
    assert "N = 7\n" in outputs(second) and "quick\n" in outputs(second)
    cells = nbformat.read(second, as_version=4).cells
    assert cells[1].metadata.tags == ["injected-parameters"] and "N = 7" in cells[1].source
    assert len(nbformat.read(tmp / "nb" / "02_second.ipynb", as_version=4).cells) == 4  # the source is left alone


def test_each_run_is_recorded_in_its_notebook(built):
    tmp, html = built
    for name in ("01_first", "02_second"):
        record = nbformat.read(tmp / "out" / "notebooks" / f"{name}.ipynb", as_version=4).metadata.goldyolo
        assert record.profile == "quick" and record.commit and 0 < record.seconds < 600
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", record.executed)
    text = html.read_text()
    # on the title page and in the appendix
    assert "compute time" in text and "<td>quick</td>" not in text  # one profile: no profile column
    assert "Made from:</strong> the 32-image sample in data/sample" in text
    assert "Python " in text and "Jittor " in text  # the versions on the title page


def test_html_is_one_self_contained_file(built):
    _, html = built
    text = html.read_text()
    assert html.name == "index.html" and html.parent.name == "out"
    assert TITLE in text and "Made from:" in text and "First notebook" in text and "Second notebook" in text
    assert "What:" in text and "For:</strong> researchers and students" in text
    assert "N = 1" in text and "N = 7" in text  # outputs are shown
    assert "<p>N = 1</p>" in text and "<pre>N = 1" not in text  # printed lines as paragraphs, not terminal text
    # code, prompts, parameter cells and stderr are not
    for hidden in ("import matplotlib", "plt.subplots", "print(f", "In&nbsp;[", "In [", "N = {N}",
                   "a log line for stderr", "injected", "Compiling Operators"):
        assert hidden not in text, hidden
    sources = re.findall(r"<img\b[^>]*?\bsrc=\"([^\"]*)\"", text)
    assert len(sources) == 2 and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "<script src=" not in text and 'href="#02_second"' in text and 'id="02_second"' in text
    # the contents list the notebooks and their sections, each link to an id the page has, every id once
    assert 'href="#A-part-of-it,-with-code"' in text and 'id="A-part-of-it,-with-code"' in text
    ids = re.findall(r'\bid="([^"]+)"', text)
    assert len(ids) == len(set(ids))


@pytest.mark.needs_chromium
@pytest.mark.needs_pdftotext
def test_pdf_has_title_and_headings(built):
    _, html = built
    text = subprocess.run(["pdftotext", str(html.with_suffix(".pdf")), "-"], capture_output=True, text=True,
                          check=True).stdout
    text = " ".join(text.split())  # the title may wrap
    assert TITLE in text and "First notebook" in text and "Second notebook" in text
    # printed outputs are set in the prose font, whose narrow spaces pdftotext may drop
    assert "In [" not in text and "plt.subplots" not in text and "N=7" in text.replace(" ", "")
    assert re.search(r"\b1 ?/ ?[1-9]\d*\b", text) and re.search(r"\b2 ?/ ?[1-9]\d*\b", text)  # page numbers


FILLER = """import matplotlib.pyplot as plt
for i in range(FILL):
    print(f"filler line {i}")"""
FIGURE = """print("the line above the figure")
fig, ax = plt.subplots(figsize=(5, 5))
ax.plot([0, 1])
plt.show()"""


@pytest.mark.needs_chromium
@pytest.mark.needs_pdftotext
@pytest.mark.parametrize("fill", [0, 18])
def test_a_heading_is_printed_on_its_figures_page(tmp_path, fill):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"FILL = {fill}"), nbformat.v4.new_markdown_cell("# Pages"),
                nbformat.v4.new_code_cell(FILLER), nbformat.v4.new_markdown_cell("## Heading of the figure"),
                nbformat.v4.new_code_cell(FIGURE)]
    (tmp_path / "nb").mkdir()
    nbformat.write(nb, tmp_path / "nb" / "01_pages.ipynb")
    pdf = build_report("quick", root=tmp_path, notebooks_dir=tmp_path / "nb", out_dir=tmp_path / "out").with_suffix(
        ".pdf")
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    figure_pages = {int(line.split()[0]) for line in listed.splitlines()[2:] if line.split()[2] == "image"}
    heading_pages = [page for page in range(2, 5) if "Heading of the figure" in subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, text=True).stdout]
    # page 1 lists the contents; with the filler the figure cannot follow the heading on its page: heading and line
    # move to the figure's
    assert len(figure_pages) == 1 and heading_pages == sorted(figure_pages), (figure_pages, heading_pages)


def test_printed_lines_become_paragraphs_in_the_documents_words():
    out = report.printed_as_prose("gold_yolo-s: iou_loss <0.5\n\n  time_s & more  \n")
    body = out.data["text/html"]
    assert body == ('<div class="run-note"><p>Gold-YOLO-S: IoU loss &lt;0.5</p><p>time (s) &amp; more</p></div>')
    assert out.output_type == "display_data" and "iou_loss" in out.data["text/plain"]
    assert ".run-note p {" in report._PRINT_CSS
    # in print every output may break (tables between rows, notes between lines): none is pushed whole to a new page
    assert ".jp-OutputArea-child { display: block !important; break-inside: auto !important; }" in report._PRINT_CSS


def test_tables_name_their_rows_in_the_header_row():
    import pandas as pd
    frame = pd.DataFrame({"AP": [0.1, 0.2]}, index=pd.Index([9, 19], name="epoch"))
    for html in (frame.to_html(), frame.style.to_html()):
        merged = report.index_names_in_header(html)
        head = merged[merged.index("<thead>"):merged.index("</thead>")]
        assert head.count("<tr") == 1 and "epoch" in head and "AP" in head, head
        assert merged[merged.index("</thead>"):] == html[html.index("</thead>"):]
    rows = pd.MultiIndex.from_tuples([("loss", "with mosaic")], names=["measure", "phase"])
    two = pd.DataFrame({"d": [1.0]}, index=rows)
    head = report.index_names_in_header(two.to_html()).split("</thead>")[0]
    assert head.count("<tr") == 1 and head.index("measure") < head.index("phase") < head.index(">d<")
    unnamed = pd.DataFrame({"AP": [0.1]}).to_html()
    assert report.index_names_in_header(unnamed) == unnamed
    # with two rows of column names the index name joins the lower one
    header = pd.DataFrame([[1, 2]], columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")]),
                          index=pd.Index(["r"], name="row")).to_html()
    assert report.index_names_in_header(header).count("<tr") == header.count("<tr") - 1


def test_show_code_keeps_the_code(tmp_path):
    write_notebook(tmp_path / "01_x.ipynb", "X", "print(N + 1)")
    html = build_report("ci", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out", pdf=False,
                        show_code=True)
    assert "print" in html.read_text() and "2" in html.read_text()


def test_failing_cell_names_notebook_cell_and_exception(tmp_path, capsys):
    write_notebook(tmp_path / "01_bad.ipynb", "Bad", 'raise ValueError("boom")')
    with pytest.raises(ReportError) as err:
        build_report("ci", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out", pdf=False)
    message = str(err.value)
    assert "01_bad.ipynb" in message and 'cell index 2 ("raise ValueError' in message and "ValueError: boom" in message
    failed = tmp_path / "out" / "notebooks" / "01_bad.failed.ipynb"
    cells = nbformat.read(failed, as_version=4).cells
    assert "ValueError" in str([cell.outputs for cell in cells if "raise" in cell.source][0])
    assert not (tmp_path / "out" / "notebooks" / "01_bad.ipynb").exists()
    assert "[1/1] 01_bad ..." in capsys.readouterr().out


def test_a_failed_run_leaves_the_earlier_executed_notebook(tmp_path):
    write_notebook(tmp_path / "01_x.ipynb", "X", "print(N)")
    build_report("ci", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out", pdf=False)
    good = (tmp_path / "out" / "notebooks" / "01_x.ipynb").read_text()
    write_notebook(tmp_path / "01_x.ipynb", "X", "print(N)\nraise ValueError('later')")
    with pytest.raises(ReportError, match="later"):
        build_report("ci", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out", pdf=False)
    assert (tmp_path / "out" / "notebooks" / "01_x.ipynb").read_text() == good


def test_missing_chromium_fails_before_executing(tmp_path, monkeypatch):
    write_notebook(tmp_path / "01_x.ipynb", "X", "print(N)")
    monkeypatch.setattr(report.shutil, "which", lambda name: None)
    with pytest.raises(ReportError, match="apt-get install chromium"):
        build_report("quick", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_only_selects_by_prefix():
    stems = ["01_dataset_split", "02_loss", "03_training", "04_evaluation"]
    assert skip_all_but(stems, "02,03_training".split(",")) == ["01_dataset_split", "04_evaluation"]
    with pytest.raises(InputError, match="no notebook matches '05'"):
        skip_all_but(stems, ["05"])


def main(argv):
    from goldyolo.cli import main as cli_main
    return cli_main(argv, STUDY_COMMANDS, "python -m goldyolo_study")


def test_cli_help_and_unknown_notebook(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--profile {quick,full,ci}" in capsys.readouterr().out
    assert main(["report", "--profile", "quick", "--only", "99", "--no-pdf"]) == 2
    assert "no notebook matches '99'" in capsys.readouterr().err


def test_summary_runs_last_and_stands_first(tmp_path, capsys):
    write_notebook(tmp_path / "01_study.ipynb", "Study", "print(N)")
    write_notebook(tmp_path / "00_summary.ipynb", "Summary", "print(N)")
    html = build_report("ci", root=tmp_path, notebooks_dir=tmp_path, out_dir=tmp_path / "out", pdf=False)
    out = capsys.readouterr().out
    assert out.index("01_study ...") < out.index("00_summary ...")  # the summary reads what the studies wrote
    text = html.read_text()
    assert text.index('id="00_summary"') < text.index('id="01_study"') < text.index("Runs of this build")


def test_dirty_means_the_code_not_the_builds_own_outputs(tmp_path):

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    for name in ("notebooks/01_a.ipynb", "report/index.html", "goldyolo/a.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    (tmp_path / "notebooks" / "01_a.ipynb").write_text("executed")
    (tmp_path / "report" / "index.html").write_text("built")
    assert not report.git_commit(tmp_path).endswith("-dirty")
    (tmp_path / "goldyolo" / "a.py").write_text("changed")
    assert report.git_commit(tmp_path).endswith("-dirty")


def test_contents_have_two_levels_and_every_first_level_heading():
    import nbformat

    from goldyolo_study.report import contents_lines
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Conclusion\n\ntext"), nbformat.v4.new_markdown_cell("## What held"),
                nbformat.v4.new_markdown_cell("# Appendix\n\n## Commands"), nbformat.v4.new_code_cell("# a comment")]
    lines, number = contents_lines("05_conclusion", nb, 6)
    assert lines == ["6. [Conclusion](#05_conclusion)", "    - [What held](#What-held)", "7. [Appendix](#Appendix)",
                     "    - [Commands](#Commands)"]
    assert number == 8


def test_run_rows_keep_dates_on_one_line():
    from pathlib import Path

    from goldyolo_study.report import _run_row
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · Dataset split")]
    nb.metadata["goldyolo"] = {"profile": "full", "commit": "abc1234", "executed": "2026-12-06", "seconds": 90,
                               "machine": "AMD EPYC, 2 CPU cores; no GPU"}
    row = _run_row(Path("01_dataset_split.ipynb"), nb)
    assert row == "| 01 · Dataset split | abc1234 | 2026\u201112\u201106 | AMD EPYC, 2 CPU cores | 1.5\u00a0min |"
    assert _run_row(Path("01_dataset_split.ipynb"), nb, with_profile=True).startswith("| 01 · Dataset split | full |")
    del nb.metadata["goldyolo"]["machine"]  # executed before machines were recorded
    assert "| 2026\u201112\u201106 | not recorded | 1.5" in _run_row(Path("01_dataset_split.ipynb"), nb)
    nb.metadata = {}
    assert _run_row(Path("01_dataset_split.ipynb"), nb) == "| 01 · Dataset split | not recorded | | | |"
