"""Where each committed result comes from: the commit, date and machine its run recorded.

A run records its origin in one of three ways, read in this order: ``invocations.jsonl`` (one line per start or
resume: training and compare-train), an ``environment`` (or top-level ``versions``/``date``/``hardware``) in its
json files, or, for runs made before their command recorded a commit, the commit their README names. A result
made by a notebook during the report build has the notebook's own commit (the appendix's table of sections).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pandas as pd

# the committed record folders, in the order of the document, with what each holds
RECORDS = {
    "parity": "model parity with the official model (04)",
    "anomaly": "loss-anomaly runs (02)",
    "train": "the study's 30-epoch training run (03, 04)",
    "compare_train": "both trainers, 30 epochs, 2 seeds (03)",
    "data_parity": "both training pipelines' batches (03)",
    "compare_fork": "both trainers from one common state (03)",
    "compare_bf16": "bf16 training (03)",
    "precision": "bf16 inference (03)",
    "step_parity": "step parity (03)",
    "long_n320": "the 100-epoch run (03)",
    "person_compare": "both trainers on the person task (03, 04)",
    "eval_person": "evaluation of the person model on the test split (04)",
    "eval_test": "evaluation of the study run on the test split (04)",
    "overfit": "the over-fit proof (04)",
    "person_eval_parity": "goldyolo's evaluator beside the official one, person model (04)",
    "eval_parity": "goldyolo's evaluator beside the official one, early 80-class weights (04)",
    "bench": "speed and memory benchmark (04)",
    "speed_ab": "Jittor and PyTorch interleaved; every CPU option (04)",
    "onnx": "ONNX export (04)",
    "soak": "memory over a long training run (04)",
}
BUILD = "this build"  # how a result made by a notebook during the build is dated
MADE_IN_BUILD = {"anomaly", "eval_person", "eval_test"}  # written by notebooks 02 and 04 as they execute
UNRECORDED = "not recorded"
# made under the profile's RUN_DIR (the others are the committed runs every profile reads)
PROFILE_RECORDS = {"train", "anomaly", "eval_person", "eval_test", "bench", "soak"}
_README_COMMIT = re.compile(r"\bat\s+commit\s+([0-9a-f]{7,40})\b")
_README_DATE = re.compile(r"\b(20\d\d-\d\d-\d\d)\b")
# the machines a README may name, as the records' CPU model names them
_README_MACHINES = {"Intel Xeon": "Intel(R) Xeon(R) Processor", "AMD EPYC": "AMD EPYC"}


@dataclass
class Origin:
    """The commits (7 characters, ``+`` for uncommitted changes), dates and machines a record names, and how
    they are known (``record``, ``README`` or :data:`BUILD`)."""
    commits: List[str]
    dates: List[str]
    machines: List[str]
    source: str


def _unique(values: Iterable[Optional[str]]) -> List[str]:
    return list(dict.fromkeys(v for v in values if v))


def short_commit(commit: Optional[str]) -> Optional[str]:
    """``abc1234`` for a commit, ``abc1234+`` when the run had uncommitted changes."""
    if not commit:
        return None
    dirty = commit.endswith("-dirty")
    return commit.removesuffix("-dirty")[:7] + ("+" if dirty else "")


def _environments(folder: Path, files: Optional[str] = None) -> List[Dict]:
    """Every environment the folder's records hold: invocation lines, then json files (only those matching the
    glob ``files`` when given)."""
    found = []
    for lines in sorted(folder.rglob("invocations.jsonl")) if files is None else []:
        found += [json.loads(line) for line in lines.read_text().splitlines() if line.strip()]
    if found:
        return found
    for path in sorted(folder.rglob("*.json") if files is None else folder.glob(files)):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("environment"), dict):
            found.append(record["environment"])
        elif isinstance(record.get("versions"), dict):
            found.append(record)
    return found


def origin(folder: Path | str, files: Optional[str] = None) -> Origin:
    """Where the results in ``folder`` come from (see the module's description); ``files``: only the json files
    of that glob in it (a result read from some of a folder's records)."""
    folder = Path(folder)
    envs = _environments(folder, files)
    if envs:
        return Origin(_unique(short_commit(e.get("versions", {}).get("git_commit")) for e in envs),
                      _unique(str(e.get("date", ""))[:10] for e in envs),
                      _unique((e.get("hardware") or {}).get("cpu_model") or e.get("cpu") for e in envs), "record")
    readme = folder / "README.md"
    if readme.exists():
        text = readme.read_text()
        commits = _unique(c[:7] for c in _README_COMMIT.findall(text))
        if commits:
            machines = [cpu for words, cpu in _README_MACHINES.items() if re.search(words.replace(" ", r"\s+"), text)]
            return Origin(commits, _unique(_README_DATE.findall(text)), machines, "README")
    return Origin([], [], [], BUILD if folder.name in MADE_IN_BUILD else UNRECORDED)


def origin_text(folder: Path | str) -> str:
    """One phrase for the document: ``commit abc1234 (2026-12-06, Intel Xeon)``, several commits for a resumed
    run (``; from its README`` inside the brackets where a README names them), or that the notebook made it
    during this build."""
    found = origin(folder)
    if found.source == BUILD:
        return "made by its section in this build (its commit is in the table of sections, title page and appendix)"
    if not found.commits:
        return "its commit was not recorded"
    commits = ", ".join(found.commits)
    details = "; ".join(filter(None, [", ".join(found.dates + found.machines),
                                      "from its README" if found.source == "README" else ""]))
    dirty = "; + marks uncommitted changes" if any(c.endswith("+") for c in found.commits) else ""
    return f"commit{'s' if len(found.commits) > 1 else ''} {commits}{f' ({details})' if details else ''}{dirty}"


def record_folder(name: str, root: Path | str, run_dir: Optional[Path | str] = None) -> Path:
    """Where record folder ``name`` lies: under ``run_dir`` for the profile's own runs (:data:`PROFILE_RECORDS`)
    when given, else under ``root``."""
    return Path(run_dir if run_dir is not None and name in PROFILE_RECORDS else root) / name


def origins_table(root: Path | str, run_dir: Optional[Path | str] = None) -> pd.DataFrame:
    """One row per record folder under ``root`` (report/full), those the study's own profile makes
    (:data:`PROFILE_RECORDS`) under ``run_dir`` when given: what it holds, commits, dates, machines and how they
    are known."""
    rows = []
    for name, what in RECORDS.items():
        folder = record_folder(name, root, run_dir)
        if not folder.is_dir():
            continue
        found = origin(folder)
        # non-breaking hyphens: a date in a narrow column otherwise breaks after its month
        dates = ", ".join(d.replace("-", "\u2011") for d in found.dates) or "-"
        rows.append({"result": what, "commits": ", ".join(found.commits) or "-", "dates": dates,
                     "machine": ", ".join(found.machines) or "-",
                     "known from": {"record": "its records", "README": "its README", BUILD: BUILD,
                                    UNRECORDED: UNRECORDED}[found.source]})
    return pd.DataFrame(rows, columns=["result", "commits", "dates", "machine", "known from"])
