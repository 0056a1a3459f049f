"""Notebook 04's benchmark suite: ``python -m goldyolo bench`` children under the watchdog, their json as tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from goldyolo.utils.watchdog import run_watched

from .provenance import short_commit
from .style import model_label, readable_frame, unbroken

Runner = Callable[..., subprocess.CompletedProcess]  # run_watched's signature: (command, timeout_s, env=...)
WARMUP = 2  # warm-up runs per setting; they also compile Jittor's kernels for the shape


@dataclass(frozen=True)
class BenchJob:
    """One bench child: a model at one input size, some batch sizes, forward only or a training step."""
    model: str
    img_size: int
    batches: Tuple[int, ...]
    train_step: bool = False

    @property
    def name(self) -> str:
        """Stem of the job's json and plot: ``<model>_<img_size>``, ``_train`` added for a training step."""
        return f"{self.model}_{self.img_size}{'_train' if self.train_step else ''}"


def train_job(train: Dict[str, object]) -> BenchJob:
    """The training-step job of ``train`` (``{"model", "img_size", "batch"}``, the BENCH_TRAIN parameter)."""
    return BenchJob(str(train["model"]), int(train["img_size"]), (int(train["batch"]),), True)


def suite_jobs(models: Sequence[str], img_size: int, batches: Sequence[int],
               train: Dict[str, object]) -> List[BenchJob]:
    """The deploy-form forward of each of ``models`` at ``img_size``, then ``train``'s training step."""
    return [BenchJob(name, int(img_size), tuple(batches)) for name in models] + [train_job(train)]


def bench_command(job: BenchJob, out: Path, runs: int, plot: bool = True) -> List[str]:
    """The ``python -m goldyolo bench`` command line of ``job`` writing ``out``."""
    command = [sys.executable, "-m", "goldyolo", "bench", "--model", job.model, "--img-size", str(job.img_size),
               "--fused", "--batch", ",".join(map(str, job.batches)), "--warmup", str(WARMUP), "--runs", str(runs),
               "--out", str(out)]
    command += ["--plot"] if plot else []
    return command + (["--train-step", "--profile-ops"] if job.train_step else [])


# OpenMP settings a background job may set in the shell that builds the report: a benchmark child runs without
# them, at the libraries' defaults, so that its times do not depend on that shell
UNTIMED_THREAD_VARS = ("OMP_WAIT_POLICY",)


def timing_environment(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment of a benchmark child: this process's, without :data:`UNTIMED_THREAD_VARS`, plus ``extra``."""
    return dict({k: v for k, v in os.environ.items() if k not in UNTIMED_THREAD_VARS}, **(extra or {}))


def run_suite(jobs: Sequence[BenchJob], bench_dir: Path, runs: int, timeout_s: float,
              run: Runner = run_watched) -> List[dict]:
    """Run each job in a fresh process; returns the reports. Only a failed child's error tail is printed
    (the tables of the json say the rest). Jittor alone: a framework ratio from one pass each is not a
    comparison on a machine whose speed drifts between processes (``speed-ab`` interleaves them).

    A job whose child fails still has its json read: a missing file then raises FileNotFoundError."""
    reports = []
    for job in jobs:
        out = Path(bench_dir) / f"{job.name}.json"
        done = run(bench_command(job, out, runs, plot=False), timeout_s, env=timing_environment())
        if done.returncode != 0:
            print(f"{job.name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
        reports.append(json.loads(out.read_text()))
    return reports


def speed_table(reports: Sequence[dict]) -> pd.DataFrame:
    """One row per measured setting: time spread, throughput, peak memory and the official PyTorch time."""
    rows = []
    for report in reports:
        for m in report["measurements"]:
            if "error" in m:
                continue
            s, torch_stats = m["stats_ms"], m.get("torch", {}).get("stats_ms")
            rows.append({"model": m["model"], "size": m["img_size"], "batch": m["batch"], "form": m["mode"],
                         "median ms": s["median"], "p10 ms": s["p10"], "p90 ms": s["p90"],
                         "min ms": s["min"], "max ms": s["max"], "runs": m.get("runs", len(m.get("times_ms", []))),
                         "ms per image": s["median"] / m["batch"], "images/s": m["images_per_s"],
                         "peak RSS MiB": m["memory"]["peak_rss_kib"] / 1024,
                         "PyTorch median ms": torch_stats["median"] if torch_stats else np.nan,
                         "Jittor / PyTorch": m.get("ratio_jittor_over_torch", np.nan)})
    return pd.DataFrame(rows)


def load_line(reports: Sequence[dict]) -> str:
    """The 1-minute load averages recorded as the settings finished, and what they say about sharing."""
    loads = [m["load_average_1_5_15"][0] for r in reports for m in r["measurements"] if "load_average_1_5_15" in m]
    if not loads:
        return "load average not recorded"
    cores = reports[0]["hardware"]["cpu_cores_usable"]
    shared = sum(load > cores for load in loads)
    return (f"1-minute load average as each setting finished: {min(loads):.2f}-{max(loads):.2f} on {cores} cores, "
            "the benchmark's own threads included; "
            + (f"{shared} of {len(loads)} above {cores}: those ran on shared cores" if shared
               else f"none above {cores}: no sign of other work on the cores in the minute before each"))


def display_table(speed: pd.DataFrame) -> pd.DataFrame:
    """``speed_table``'s Jittor columns in a form that fits a printed page: the range of the timed runs beside
    the median (a few runs have no meaningful percentiles), numbers as text at the precision they are shown."""
    if not len(speed):
        return speed
    return pd.DataFrame({
        "model": speed.model.map(model_label),
        "px": speed["size"], "batch": speed.batch, "form": speed.form.str.replace("_", " "),
        "ms, median (min-max)": [f"{m:,.1f} ({a:,.1f}-{b:,.1f})" for m, a, b in
                                 zip(speed["median ms"], speed["min ms"], speed["max ms"])],
        "timed runs": speed["runs"],
        "ms per image": [f"{v:,.1f}" for v in speed["ms per image"]],
        "images/s": [f"{v:.2f}" if v < 10 else f"{v:.1f}" for v in speed["images/s"]],
        "peak RSS MiB": [f"{v:,.0f}" for v in speed["peak RSS MiB"]]})


def same_cpu(report: dict) -> bool:
    """Whether a bench json's timings ran on the CPU model its recorded official timings name."""
    recorded = report.get("reference", {}).get("hardware", {}).get("model_name", "")
    return bool(recorded) and recorded in report.get("hardware", {}).get("cpu_model", "")


def recorded_comparisons(reports: Sequence[dict]) -> Tuple[dict, List[dict]]:
    """The recorded official timings' description and the settings of ``reports`` that match one, on the CPU
    model the recorded timings ran on (times of two CPUs side by side would read as a comparison)."""
    comparisons = [row for report in reports if same_cpu(report) for row in report["reference"].get("comparisons", [])]
    return (reports[0]["reference"] if reports else {}), comparisons


def recorded_table(comparisons: Sequence[dict]) -> pd.DataFrame:
    """``recorded_comparisons``' rows for the page: the setting, both medians and the note. No ratio: the two
    come from different runs (``invocation_drift`` says how far one setting moves between runs)."""
    return readable_frame(pd.DataFrame([{"setting": _setting_name(row),
                                         "recorded PyTorch ms": round(row["torch_median_ms"], 1),
                                         "Jittor ms (this run)": round(row["jittor_median_ms"], 1),
                                         "note": row.get("note") or ""} for row in comparisons]))


def invocation_drift(result: dict) -> Optional[Tuple[float, str, str]]:
    """The largest move of one setting's median between ``speed-ab`` invocations, for either framework:
    (highest / lowest invocation median - 1, the setting, the framework); None without two invocations."""
    moves = [(max(ms) / min(ms) - 1, _setting_name(s), label)
             for s in result.get("settings", []) for key, label in (("jittor", "Jittor"), ("torch", "PyTorch"))
             for ms in [[inv[key] for inv in s.get("invocation_medians_ms", [])]] if len(ms) > 1]
    return max(moves) if moves else None


def run_composed_bn(train: Dict[str, object], bench_dir: Path, runs: int, timeout_s: float,
                    run: Runner = run_watched) -> Path:
    """Time ``train``'s training step with batch norm composed of Jittor ops (``GOLDYOLO_BN_KERNELS=0``).

    Prints the child's error tail when it fails; returns the json it writes."""
    job = train_job(train)
    out = Path(bench_dir) / f"{job.name}_composed_bn.json"
    done = run(bench_command(job, out, runs, plot=False), timeout_s,
               env=timing_environment({"GOLDYOLO_BN_KERNELS": "0"}))
    if done.returncode != 0:
        print(done.stderr[-3000:])
    return out


def train_step_of(path: Path) -> dict:
    """The training-step measurement of a bench json."""
    return next(m for m in json.loads(Path(path).read_text())["measurements"] if m["mode"] == "train_step")


def kernel_table(columns: Dict[str, dict]) -> pd.DataFrame:
    """Kernel ms by kind (rows) per training-step measurement (columns), their sum and the timed median."""
    kinds = pd.DataFrame({name: {k["kind"]: k["ms"] for k in m["ops"]["kinds"]}
                          for name, m in columns.items()}).fillna(0.0)
    kinds.loc["all kernels"] = kinds.sum()
    kinds.loc["training step, timed median"] = [m["stats_ms"]["median"] for m in columns.values()]
    return kinds


def _setting_name(entry: dict) -> str:
    return (f"{model_label(entry['model'])} {entry['img_size']} px, batch {entry['batch']}, "
            f"{entry['mode'].replace('_', ' ')}")


def ab_verdict(entry: dict) -> str:
    """What the 95% interval of a Jittor/PyTorch ratio says."""
    if entry["ci_low"] <= 1 <= entry["ci_high"]:
        return "level (within noise)"
    return "Jittor faster" if entry["ci_high"] < 1 else "PyTorch faster"


def ab_table(result: dict) -> pd.DataFrame:
    """``speed-ab``'s json as one row per setting: pooled medians, the ratio with its 95% interval, each
    invocation's ratio and the verdict."""
    return pd.DataFrame([{"setting": _setting_name(s), "Jittor ms": round(s["jittor_median_ms"], 1),
                          "PyTorch ms": round(s["torch_median_ms"], 1),
                          "Jittor / PyTorch (95%)": f"{s['ratio']:.3f} ({s['ci_low']:.3f}-{s['ci_high']:.3f})",
                          "per invocation": ", ".join(f"{r:.2f}" for r in s["invocation_ratios"]),
                          "verdict": ab_verdict(s)} for s in result.get("settings", [])])


def machines_table(results: Sequence[dict]) -> pd.DataFrame:
    """The same ``speed-ab`` settings on several machines: per setting (rows), each result's Jittor / PyTorch
    ratio with its 95% interval under its machine and date (columns); a setting one result lacks shows "-"."""
    columns = {f"{r['hardware']['cpu_model']}, {unbroken(r['date'][:10])}": {
        _setting_name(s): f"{s['ratio']:.2f} ({s['ci_low']:.2f}-{s['ci_high']:.2f})" for s in r.get("settings", [])}
        for r in results}
    return pd.DataFrame(columns).fillna("-").rename_axis("setting")


def variants_table(result: dict) -> pd.DataFrame:
    """``speed-ab --variants``: per setting, every variant's pooled median and its time relative to PyTorch
    eager float32 (95% interval), fastest first; empty for a run of Jittor and PyTorch alone."""
    rows = []
    for s in result.get("settings", []):
        variants = s.get("variants", {})
        if len(variants) <= 2:
            continue
        for name, v in sorted(variants.items(), key=lambda item: item[1]["median_ms"]):
            row = {"setting": _setting_name(s), "invocations x runs": f"{s['invocations']} x {s['runs']}",
                   "variant": v["description"], "ms": v["median_ms"],
                   "time / PyTorch float32 (95%)": f"{v['ratio_to_torch']:.2f} ({v['ci_low']:.2f}-{v['ci_high']:.2f})"}
            if "memory_mib" in s:  # the worker process: resident after the timed runs, and its peak
                row.update({"resident MiB": round(s["memory_mib"][name]["rss_mib"]),
                            "peak MiB": round(s["memory_mib"][name]["peak_rss_mib"])})
            rows.append(row)
    return readable_frame(pd.DataFrame(rows))


def cpu_options(reference: Path) -> Optional[dict]:
    """``speed_ab/cpu_options*.json`` of a reference folder as one result: the first file's machine and config,
    and each setting (model, size, batch, mode) from the newest file that measured it (a setting measured
    again, e.g. after the timed step changed, replaces the older measurement); None when there is none."""
    files = sorted((Path(reference) / "speed_ab").glob("cpu_options*.json"))
    if not files:
        return None
    results = [json.loads(path.read_text()) for path in files]
    newest: Dict[tuple, Tuple[str, int, dict]] = {}
    for order, result in enumerate(results):
        for setting in result["settings"]:
            key = (setting["model"], setting["img_size"], setting["batch"], setting["mode"])
            candidate = (result.get("date", ""), order, setting)
            if key not in newest or candidate[:2] > newest[key][:2]:
                newest[key] = candidate
    settings = [entry[2] for entry in sorted(newest.values(), key=lambda entry: entry[1])]
    parts = [{"file": path.name, "date": result.get("date", ""),
              "commit": result.get("versions", {}).get("git_commit", "?"),
              "settings": [_setting_name(s) for s in result["settings"] if any(s is kept for kept in settings)]}
             for path, result in zip(files, results)]
    return dict(results[0], settings=settings, parts=[part for part in parts if part["settings"]])


def cpu_options_lines(options: dict) -> List[str]:
    """How the merged CPU-option timings were taken: the rotation, and which file (date, commit) each
    setting's numbers come from."""
    cfg, hw = options["config"], options["hardware"]
    lines = [f"{hw['cpu_model']}, {hw['cpu_cores_usable']} cores; per setting and invocation a warm worker per "
             f"variant, {cfg['warmup']} warm-up runs, then rounds of one run of each variant in turn",
             POOLED]
    for part in options.get("parts", []):
        lines.append(f"measured {part['date'][:10]} at commit {short_commit(part['commit'])}: "
                     + "; ".join(part["settings"]))
    return lines + [DIRTY] * any(short_commit(part["commit"]).endswith("+") for part in options.get("parts", []))


DIRTY = "a commit marked + ran with uncommitted changes in the working tree"
POOLED = ("median times pooled over the invocations; the interval is a bootstrap of the runs within each "
          "invocation; an interval that contains 1 means the two are level within the noise")


def ab_lines(result: dict) -> List[str]:
    """How the interleaved timings were taken, read from the json."""
    cfg, hw = result["config"], result["hardware"]
    order = ("one run of each variant in turn" if len(cfg.get("variants", "jittor,torch").split(",")) > 2
             else "interleaved Jittor, PyTorch, Jittor, ...")
    return [f"{cfg['invocations']} invocations x {cfg['runs']} timed runs per framework and setting, "
            f"after {cfg['warmup']} warm-up runs, {order}; {hw['cpu_model']}, "
            f"{hw['cpu_cores_usable']} cores, {result['date'][:10]}, "
            f"commit {short_commit(result['versions'].get('git_commit', '?'))}",
            POOLED] + [DIRTY] * short_commit(result["versions"].get("git_commit", "?")).endswith("+")


def profiles_line(profiles: Sequence[dict]) -> str:
    """Machine, dates and commits (+: uncommitted changes) of ``bench --profile-ops`` results."""
    hardware = profiles[0]["hardware"]
    dates = ", ".join(dict.fromkeys(p["date"][:10] for p in profiles))
    commits = list(dict.fromkeys(short_commit(p["versions"].get("git_commit", "?")) for p in profiles))
    dirty = "; + marks uncommitted changes" if any(c.endswith("+") for c in commits) else ""
    return (f"{hardware['cpu_model']}, {hardware['cpu_cores_usable']} cores, {dates}, "
            f"commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}{dirty}")


def time_by_kind_table(reports: Sequence[dict]) -> pd.DataFrame:
    """``bench --profile-ops`` results side by side: per setting (model, size, batch, form, precision), the
    median latency, each kind of kernel's time for one call, and oneDNN's own split of its primitives into
    convolution, layout reorders and pooling (ms)."""
    rows = {}
    for report in reports:
        for m in report["measurements"]:
            ops = m.get("ops")
            if not ops:
                continue
            column = (f"{model_label(m['model'])} {m['img_size']} px, batch {m['batch']}, "
                      f"{m['mode'].replace('_', ' ')}, {m.get('conv_precision', m.get('precision', ''))}")
            entry = {"median latency": m["stats_ms"]["median"]}
            entry.update({k["kind"]: k["ms"] for k in ops["kinds"]})
            for kind, ms in (ops.get("onednn") or {}).get("primitive_ms", {}).items():
                entry[f"of which oneDNN {kind}"] = ms
            rows[column] = entry
    table = pd.DataFrame(rows).fillna(0.0)
    order = sorted(table.index, key=lambda name: (name != "median latency", name.startswith("of which"),
                                                  -table.loc[name].max()))
    return readable_frame(table.loc[order])
