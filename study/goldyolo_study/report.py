"""One-command report build: execute the notebooks headless with papermill, then write one self-contained HTML
and a PDF.

``python -m goldyolo_study report --profile quick|full|ci``. Each notebook runs through papermill with ``PROFILE``
injected after its ``parameters`` cell (the notebook fills the parameters it leaves None from that profile),
so ``papermill notebooks/NN_name.ipynb out.ipynb -p PROFILE quick`` runs one notebook the same way. What this
module adds: the training run before notebook 03, the record of each run (commit, date, compute time) in the
notebook's metadata, the merge under a title page, and the document's view (no code, parameter cells or
stderr) printed to HTML and PDF. Profile ``full`` writes the executed notebooks back into ``notebooks/`` (the
committed outputs) and the report to ``report/index.html`` and ``.pdf``; ``quick`` and ``ci`` write both
under ``report/<profile>/``. The PDF is headless Chromium's print of the HTML (report/README.md says why not
LaTeX).
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import nbformat
import papermill
from bs4 import BeautifulSoup
from jinja2 import DictLoader
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from papermill.exceptions import PapermillExecutionError
from papermill.execute import ERROR_MARKER_TAG

from goldyolo.errors import GoldYoloError, InputError
from goldyolo.runtime import tolerate_child_deaths
from goldyolo.utils.machine import command_output, machine_description
from goldyolo.utils.watchdog import run_limited

from .profiles import PROFILE_CHANGES, PROFILE_WORDS, has_gpu, parameters, run_training
from .style import readable, unbroken

TITLE = "Gold-YOLO in Jittor: reproduction report"
ABOUT = ("- **What:** the study of an earlier student report on Gold-YOLO in Jittor, rebuilt with the exact model, "
         "the official recipe and measured numbers; each section below is a notebook of the goldyolo repository, "
         "executed for this build", "- **For:** researchers and students who want to know which of the earlier "
         "numbers hold, and who want to train and evaluate Gold-YOLO in Jittor themselves")
CELL_TIMEOUT_S = {"full": 3 * 3600, "quick": 20 * 60, "ci": 20 * 60}
PDF_TIMEOUT_S = 300
NOTE_CLASS = "run-note"  # printed lines, shown as paragraphs
# JupyterLab's template without its CDN scripts (require.js, MathJax, mermaid): nothing is fetched when the
# file is opened, so it reads the same offline; math in markdown shows as its TeX source. Printed on A4 with
# long code lines wrapped rather than cut.
# A4 pages; tables shrink to the page width and wrap their cells instead of running off the page or
# scrolling; figures never exceed the width; a heading is kept with what follows it (a figure included). In
# print nothing in an output area is clipped (a table too wide would lose its last columns), and outputs are
# plain blocks that may break across pages (between table rows and paragraphs; a figure stays whole):
# JupyterLab keeps each output on one page, and in Chromium that pushes a short note and the table after it to
# a fresh page, leaving the one before it half empty.
_PRINT_CSS = ("@page { size: A4; margin: 14mm 12mm 16mm; @bottom-center { content: counter(page) \" / \" "
              "counter(pages); font: 9pt sans-serif; color: #555; } } "
              "@media print { pre { white-space: pre-wrap; } "
              ".jp-OutputArea, .jp-OutputArea-child, .jp-OutputArea-output { overflow: visible !important; } "
              ".jp-OutputArea-child { display: block !important; break-inside: auto !important; } "
              ".jp-OutputArea-output { display: block !important; } } "
              ".jp-RenderedHTMLCommon table { font-size: 8.5pt; table-layout: auto; max-width: 100%; "
              "border-collapse: collapse; } "
              ".jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: normal !important; "
              "overflow-wrap: break-word; padding: 2px 5px; vertical-align: top; } "
              ".jp-RenderedHTMLCommon td.nowrap { white-space: nowrap !important; } "
              ".jp-RenderedHTMLCommon tr { break-inside: avoid; } "
              ".jp-OutputArea-output img { max-width: 100%; height: auto; } "
              "h1, h2, h3 { break-after: avoid; } "
              # a printed line just above a figure or table stays with it, and so does a heading cell just above
              # a figure's cell: the heading is carried to the figure's page; a table's first or last row never
              # sits alone.
              # A table and the figure after it may part: chained, they would leave half a page empty
              f".jp-OutputArea-child:has(.{NOTE_CLASS}):has(+ .jp-OutputArea-child .jp-RenderedImage) "
              "{ break-after: avoid; } "
              f".jp-OutputArea-child:has(.{NOTE_CLASS}):has(+ .jp-OutputArea-child table) {{ break-after: avoid; }} "
              ".jp-MarkdownCell:has(h1, h2, h3, h4):has(+ .jp-CodeCell .jp-RenderedImage) { break-after: avoid; } "
              ".jp-RenderedHTMLCommon tbody tr:last-child { break-before: avoid; } "
              ".jp-RenderedHTMLCommon tbody tr:first-child { break-after: avoid; } "
              # the appendix starts a page, as the chapters do
              ".jp-MarkdownCell:has(h1#Appendix) { break-before: page; } "
              # printed text outputs read as prose: the body's font, lines broken between words only
              ".jp-RenderedText pre { font-family: var(--jp-content-font-family) !important; "
              "font-size: 9.5pt !important; white-space: pre-wrap; "
              "word-break: normal !important; overflow-wrap: break-word; } "
              ".jp-RenderedHTMLCommon li { break-inside: avoid; } "
              ".jp-RenderedHTMLCommon p { orphans: 3; widows: 3; } "
              ".run-note p { margin: 0.25em 0; font-size: 9.5pt; line-height: 1.4; color: #333; } ")
_OFFLINE_TEMPLATE = DictLoader({"offline.html.j2": "{%- extends 'index.html.j2' -%}\n"
                                                   "{% block html_head_js %}{% endblock %}\n"
                                                   "{% block html_head_js_mathjax %}{% endblock %}\n"
                                                   "{% block html_head_js_mermaidjs %}{% endblock %}\n"
                                                   "{% block extra_css %}<style>" + _PRINT_CSS + "</style>"
                                                   "{% endblock %}\n"})


class ReportError(GoldYoloError):
    """A notebook failed, or the HTML or PDF could not be written; the message says where."""


def find_notebooks(notebooks_dir: Path) -> List[Path]:
    """The report's notebooks in order: ``NN_name.ipynb`` in ``notebooks_dir`` (not ``.failed.ipynb`` copies)."""
    return sorted(p for p in Path(notebooks_dir).glob("[0-9][0-9]_*.ipynb") if not p.name.endswith(".failed.ipynb"))


def execution_order(paths: Sequence[Path]) -> List[Path]:
    """The order to execute ``paths`` in: ``00_*`` (the summary, which reads what the studies wrote) last;
    the document keeps the file order, so the summary still comes first."""
    return sorted(paths, key=lambda path: (path.stem.startswith("00_"), path.name))


def skip_all_but(stems: Sequence[str], only: Iterable[str]) -> List[str]:
    """The stems to skip so that only those starting with an entry of ``only`` (``"02"`` or a stem) run."""
    wanted = [token.strip() for token in only if token.strip()]
    for token in wanted:
        if not any(stem.startswith(token) for stem in stems):
            raise InputError(f"no notebook matches {token!r} (notebooks: {', '.join(stems) or 'none'})")
    return [stem for stem in stems if not any(stem.startswith(token) for token in wanted)]


def prepare_training(values: Dict[str, object], root: Path) -> None:
    """Before ``03_training`` runs: train (or finish training) the run it reads, in a subprocess."""
    try:
        run_training(values, root)
    except RuntimeError as err:
        raise ReportError(str(err)) from None


def declared_parameters(nb: nbformat.NotebookNode) -> Optional[set]:
    """Names assigned in the cell tagged ``parameters``; None when no cell is tagged."""
    tagged = [cell for cell in nb.cells if "parameters" in cell.metadata.get("tags", [])]
    if not tagged:
        return None
    return set(re.findall(r"^([A-Za-z_]\w*)\s*=", tagged[0].source, flags=re.M))


def _failed_cell(nb: nbformat.NotebookNode) -> Optional[str]:
    """'cell index 4 ("first line"): ValueError: boom' for the first cell with an error output.

    The index counts the cells of the source notebook: papermill's injected and error-marker cells are left out."""
    added = {"injected-parameters", ERROR_MARKER_TAG}
    cells = [cell for cell in nb.cells if not added & set(cell.metadata.get("tags", []))]
    for i, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                first = (cell.source.strip().splitlines() or [""])[0]
                return f'cell index {i} ("{first}"): {output.ename}: {output.evalue}'
    return None


def execute_notebook(source: Path, target: Path, values: Dict[str, object], cwd: Path, timeout: int,
                     record: Optional[Dict[str, object]] = None) -> None:
    """Execute ``source`` with papermill in ``cwd``, with those of ``values`` its ``parameters`` cell declares
    injected after that cell, and write it to ``target`` with ``record`` in its metadata (``goldyolo``).

    The notebook is written cell by cell to ``<target>.failed.ipynb`` (beside ``target``, which is replaced
    only on success): when a cell fails, that partly executed copy stays and ReportError names the notebook,
    the cell and the exception."""
    declared = declared_parameters(nbformat.read(source, as_version=4))
    if declared is not None:  # only the variables this notebook declares
        values = {k: v for k, v in values.items() if k in declared}
    failed = target.with_suffix(".failed.ipynb")
    start = time.monotonic()
    try:
        papermill.execute_notebook(str(source), str(failed), parameters=values, cwd=str(cwd), kernel_name="python3",
                                   language="python", execution_timeout=timeout, progress_bar=False,
                                   log_output=False)
    except (PapermillExecutionError, CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        where = (_failed_cell(nbformat.read(failed, as_version=4)) if failed.exists() else None) \
            or f"{type(err).__name__}: {err}"
        raise ReportError(f"{source}: {where}; the partly executed notebook is in {failed}") from None
    nb = nbformat.read(failed, as_version=4)
    nb.metadata["goldyolo"] = dict(record or {}, seconds=round(time.monotonic() - start, 1))
    nbformat.write(nb, target)
    failed.unlink()


def _first_heading(nb: nbformat.NotebookNode, default: str) -> str:
    return next((line.lstrip("#").strip() for cell in nb.cells if cell.cell_type == "markdown"
                 for line in cell.source.splitlines() if line.startswith("#")), default)


def _headings(nb: nbformat.NotebookNode) -> List[Tuple[int, str]]:
    """(level, text) of a notebook's first- and second-level headings, in order."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += [(len(line) - len(line.lstrip("#")), line.lstrip("#").strip()) for line in cell.source.splitlines()
                      if line.startswith(("# ", "## "))]
    return found


def contents_lines(stem: str, nb: nbformat.NotebookNode, number: int) -> Tuple[List[str], int]:
    """The notebook's entries in the two-level contents, numbered from ``number``: each first-level heading a
    numbered entry (the notebook's first links to its page anchor ``stem``), each second-level one under the
    entry before it; and the next free number."""
    lines = []
    for i, (level, text) in enumerate(_headings(nb)):
        if level == 1 or i == 0:
            lines.append(f"{number}. [{text}](#{stem if i == 0 else heading_id(text)})")
            number += 1
        else:
            lines.append(f"    - [{text}](#{heading_id(text)})")
    return lines, number


def heading_id(text: str) -> str:
    """The id nbconvert's HTML gives a heading: its text as shown (markdown marks removed), spaces as dashes."""
    return re.sub(r"[`*]", "", text).strip().replace(" ", "-")


def git_commit(root: Path) -> str:
    """Short commit of ``root``, with ``-dirty`` when tracked files have uncommitted changes.

    The notebooks and ``report/`` are left out of the check: the build itself rewrites them as it goes, so
    every notebook after the first would otherwise read as dirty; ``-dirty`` means the code differs."""
    commit = command_output(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = command_output(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                            ":(exclude)notebooks/*.ipynb", ":(exclude)report"])
    return commit + ("-dirty" if dirty else "")


def software_versions() -> Dict[str, str]:
    """Versions of what the notebooks ran on: Python, Jittor, PyTorch, oneDNN (Debian's, which goldyolo links),
    and the NVIDIA driver and its CUDA version where a GPU is present; what is not installed is left out."""
    import platform
    from importlib import metadata
    found = {"Python": platform.python_version()}
    for label, package in (("Jittor", "jittor"), ("PyTorch", "torch"), ("NumPy", "numpy"),
                           ("pycocotools", "pycocotools")):
        try:
            found[label] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    dnnl = command_output(["dpkg-query", "-W", "-f", "${Version}", "libdnnl2"]) if shutil.which("dpkg-query") else None
    if dnnl:
        found["oneDNN"] = f"{dnnl} (Debian libdnnl2)"
    if shutil.which("nvidia-smi"):
        driver = command_output(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
        if driver:
            found["NVIDIA driver"] = driver.splitlines()[0]
        cuda = re.search(r"CUDA Version: *([\d.]+)", command_output(["nvidia-smi"]) or "")
        if cuda:
            found["CUDA"] = cuda.group(1)
    return found


def _run_row(path: Path, nb: nbformat.NotebookNode, with_profile: bool = False) -> str:
    """A table row: the section (the notebook's first heading), its profile (``with_profile``), commit, date,
    machine and compute time (from its record)."""
    record = nb.metadata.get("goldyolo", {})
    section = _first_heading(nb, path.stem)
    if not record:
        return f"| {section} | not recorded | | | |" + (" |" if with_profile else "")
    minutes = record.get("seconds", 0) / 60
    build = f" {record.get('profile', '')} |" if with_profile else ""
    machine = record.get("machine", "not recorded").split(";")[0]  # the CPU and its cores
    return (f"| {section} |{build} {record.get('commit', '')} | "
            f"{unbroken(record.get('executed', ''))} | {machine} | {unbroken(f'{minutes:.1f} min')} |")


def merge_notebooks(paths: Sequence[Path], profile: str, root: Path) -> nbformat.NotebookNode:
    """One notebook: a title cell (profile, date, machine, versions, each notebook's commit and compute time,
    contents), then each notebook's cells after an anchor that starts a new printed page, and an appendix cell
    with the same table and the environment."""
    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    # the profile column only where notebooks were executed with different profiles (a partial rebuild)
    mixed = len({nb.metadata.get("goldyolo", {}).get("profile") for nb in notebooks}) > 1
    header = ["| section |" + (" profile |" if mixed else "") + " commit | executed | machine | compute time |",
              "|---|" + ("---|" if mixed else "") + "---|---|---|---|"]
    rows = [_run_row(path, nb, mixed) for path, nb in zip(paths, notebooks)]
    title = [f"# {TITLE}", "", *ABOUT, f"- **Made from:** {PROFILE_WORDS.get(profile, profile)}",
             f"- **Built:** {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} at commit {git_commit(root)} on "
             f"{machine_description()}; each section ran where the table says",
             "- **Software:** " + ", ".join(f"{k} {v}" for k, v in software_versions().items()), ""]
    title += header + rows
    title += ["", "## Contents", ""]
    number = 1
    for path, nb in zip(paths, notebooks):
        lines, number = contents_lines(path.stem, nb, number)
        title += lines or [f"{number}. [{path.stem}](#{path.stem})"]
        number += not lines
    merged = nbformat.v4.new_notebook(metadata=dict(notebooks[0].metadata, title=TITLE))
    merged.metadata.pop("goldyolo", None)
    merged.metadata.pop("papermill", None)
    merged.cells.append(nbformat.v4.new_markdown_cell("\n".join(title)))
    for path, nb in zip(paths, notebooks):
        anchor = f'<div id="{path.stem}" style="break-before: page"></div>'
        merged.cells += [nbformat.v4.new_markdown_cell(anchor)] + nb.cells
    appendix = ["## Runs of this build", ""] + header + rows
    appendix += ["", f"- **Built on:** {machine_description()}"]
    appendix += ["- **Software:** " + ", ".join(f"{k} {v}" for k, v in software_versions().items())]
    merged.cells.append(nbformat.v4.new_markdown_cell("\n".join(appendix)))
    for i, cell in enumerate(merged.cells):
        cell.id = f"cell-{i}"
    return merged


# Jittor's compiler progress and log lines, which it prints to stdout
LOG_LINE = re.compile(r"(Compiling Operators\(|\[[iwe] \d{4} )")


def printed_as_prose(text: str) -> nbformat.NotebookNode:
    """A notebook's printed lines as the document shows them: one paragraph per line, in the body's font and in
    the document's words (:func:`goldyolo_study.style.readable`), not a block of terminal text."""
    paragraphs = "".join(f"<p>{escape(readable(line.strip()))}</p>" for line in text.splitlines()
                         if line.strip())
    return nbformat.v4.new_output("display_data", data={"text/html": f'<div class="{NOTE_CLASS}">{paragraphs}</div>',
                                                        "text/plain": text})


THEAD = re.compile(r"<thead>.*?</thead>", re.S)


def _names_row_merged(thead: str) -> str:
    """One table head with its last row of index names (pandas prints them below the column names, leaving a row
    of empty cells) moved into the empty corner cells of the row above; unchanged where that does not fit."""
    soup = BeautifulSoup(thead, "html.parser")
    rows = soup.find_all("tr")
    if len(rows) < 2:
        return thead
    above, names = rows[-2].find_all("th"), rows[-1].find_all("th")
    labels = [th.get_text(strip=True) for th in names]
    count = next((i for i, text in enumerate(labels) if not text), len(labels))
    if (count == 0 or any(labels[count:]) or len(above) != len(names)
            or any(above[i].get_text(strip=True) and "index_name" not in above[i].get("class", [])
                   for i in range(count))):
        return thead
    for th, label in zip(above, labels[:count]):
        th.string = label
    rows[-1].decompose()
    return str(soup)


def index_names_in_header(html: str) -> str:
    """``html`` with each table's row of index names merged into its header row (:func:`_names_row_merged`)."""
    return THEAD.sub(lambda match: _names_row_merged(match.group(0)), html)


def for_readers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The document's view of ``nb``: no parameter cells, no stderr output (log lines, warnings, progress
    bars) and no Jittor log lines on stdout, which belong to the interactive notebook, not to the report;
    what is printed reads as prose (:func:`printed_as_prose`) and tables name their rows in the header row
    (:func:`index_names_in_header`)."""
    hidden = {"parameters", "injected-parameters", ERROR_MARKER_TAG}
    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if not hidden & set(cell.metadata.get("tags", []))]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            if out.output_type == "stream":
                if out.get("name") == "stderr":
                    continue
                out.text = "".join(line for line in out.text.splitlines(keepends=True)
                                   if not LOG_LINE.match(line.lstrip("\r")))
                if not out.text.strip():
                    continue
                out = printed_as_prose(out.text)
            elif "text/html" in out.get("data", {}):
                out.data["text/html"] = index_names_in_header(out.data["text/html"])
            outputs.append(out)
        cell.outputs = outputs
    return nb


def write_html(nb: nbformat.NotebookNode, html: Path, resources_dir: Path, show_code: bool = False) -> None:
    """Export ``nb`` to ``html`` with every image embedded: without code (unless ``show_code``) or prompts,
    parameter cells or stderr output; inputs of cells tagged ``hide-input`` are always left out.

    ``resources_dir`` is where relative image paths in markdown cells are looked up."""
    exporter = HTMLExporter(template_name="lab", template_file="offline.html.j2",
                            extra_loaders=[_OFFLINE_TEMPLATE], embed_images=True, exclude_input=not show_code,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags={"hide-input"}), enabled=True)
    body, _ = exporter.from_notebook_node(for_readers(nb) if not show_code else nb,
                                          resources={"metadata": {"path": str(resources_dir), "name": TITLE}})
    external = [src for src in re.findall(r"<img\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]*)", body)
                if not src.startswith("data:")]
    if external:
        raise ReportError(f"images not embedded in the report: {', '.join(external[:5])}")
    html.write_text(body, encoding="utf-8")


def find_chromium() -> str:
    """Path of Debian's ``chromium``, which prints the PDF."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise ReportError("chromium not found; the PDF needs it: apt-get install chromium (or pass --no-pdf)")
    return chromium


def print_pdf(chromium: str, html: Path, pdf: Path) -> None:
    """Print ``html`` to ``pdf`` with headless Chromium, offline (no header/footer lines)."""
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="goldyolo-chromium-") as user_data:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   f"--user-data-dir={user_data}", "--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}",
                   html.resolve().as_uri()]
        try:
            done = run_limited(command, timeout_s=PDF_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not print {html} within {PDF_TIMEOUT_S} s") from None
    if done.returncode != 0 or not pdf.exists():
        raise ReportError(f"chromium could not print {html} (exit {done.returncode}): {done.stderr[-2000:]}")


def build_report(profile: str, overrides: Optional[Dict[str, Dict[str, object]]] = None, skip: Iterable[str] = (),
                 root: Path | str = ".", notebooks_dir: Optional[Path] = None, out_dir: Optional[Path] = None,
                 pdf: bool = True, train: bool = True, show_code: bool = False) -> Path:
    """Execute the notebooks (all but the stems in ``skip``) in ``root`` and write the report; returns the HTML.

    Each notebook gets ``PROFILE`` (its parameters left None take that profile's values) and ``overrides``,
    which maps a notebook stem, or ``"*"`` for all, to more variables to inject. Defaults:
    notebooks from ``root/notebooks``; the report in ``root/report`` (``full``) or ``root/report/<profile>``.
    Executed notebooks go back to ``notebooks_dir`` for ``full``, else to ``<out_dir>/notebooks``; a skipped
    notebook enters the report as its earlier executed copy there, if any. ``train=False`` reports the
    training run as it stands instead of running or finishing it first; ``show_code`` keeps the code cells in
    the HTML and PDF."""
    # this process supervises kernels and the training run: one that dies is reported (ReportError), and
    # Jittor, where loaded here (pytest), must not end this process with it (runtime.tolerate_child_deaths)
    tolerate_child_deaths()
    if profile not in PROFILE_CHANGES:
        raise InputError(f"unknown profile {profile!r} (profiles: {', '.join(PROFILE_CHANGES)})")
    root = Path(root).resolve()
    notebooks_dir = Path(notebooks_dir) if notebooks_dir else root / "notebooks"
    out_dir = Path(out_dir) if out_dir else (root / "report" if profile == "full" else root / "report" / profile)
    executed_dir = notebooks_dir if profile == "full" else out_dir / "notebooks"
    overrides = overrides or {}
    skip = set(skip)
    sources = find_notebooks(notebooks_dir)
    if not sources:
        raise ReportError(f"no notebooks (NN_name.ipynb) in {notebooks_dir}")
    chromium = find_chromium() if pdf else ""
    os.environ.setdefault("log_silent", "1")  # the kernels inherit it: no Jittor info lines in the outputs
    executed_dir.mkdir(parents=True, exist_ok=True)
    executed = []
    for number, source in enumerate(execution_order(sources), 1):
        target, tag = executed_dir / source.name, f"[{number}/{len(sources)}] {source.stem}"
        if source.stem in skip:
            print(f"{tag} ... skipped" + ("" if target.exists() else ", no executed copy to report"), flush=True)
            executed += [target] if target.exists() else []
            continue
        print(f"{tag} ...", flush=True)
        start = time.monotonic()
        values = {"PROFILE": profile, **overrides.get("*", {}), **overrides.get(source.stem, {})}
        if source.stem == "03_training" and train:
            prepare_training({**parameters(profile, has_gpu() if profile == "full" else False), **values}, root)
        record = {"profile": profile, "commit": git_commit(root), "executed": f"{datetime.now().astimezone():%Y-%m-%d}",
                  "machine": machine_description()}
        execute_notebook(source, target, values, root, CELL_TIMEOUT_S[profile], record)
        print(f"{tag} ... done in {time.monotonic() - start:.0f} s", flush=True)
        executed.append(target)
    if not executed:
        raise ReportError("no executed notebook to report")
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / "index.html"
    write_html(merge_notebooks(sorted(executed, key=lambda p: p.name), profile, root), html, notebooks_dir,
               show_code)
    if pdf:
        print_pdf(chromium, html, html.with_suffix(".pdf"))
    return html


def report_command(profile: str = "quick", only: Optional[str] = None, pdf: bool = True, train: bool = True,
                   show_code: bool = False) -> str:
    """``report``: execute the notebooks (those of ``only``, comma-separated prefixes or names, when given) from
    the repository root and write the report; returns where it went."""
    stems = [path.stem for path in find_notebooks(Path("notebooks"))]
    skip = skip_all_but(stems, only.split(",")) if only else []
    html = build_report(profile, skip=skip, pdf=pdf, train=train, show_code=show_code)
    return f"report written to {html}" + (f" and {html.with_suffix('.pdf')}" if pdf else "")
