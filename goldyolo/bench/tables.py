"""What ``python -m goldyolo bench`` prints and draws besides the times: the official PyTorch timings
(of this run with ``--torch-reference``, and those recorded in ``../shared/reference/torch_cpu_timings.json``)
beside Jittor's, the stdout tables and the plot."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional

from ..utils.machine import REPO, portable_path

REFERENCE_FILE = "torch_cpu_timings.json"
# (mode, img_size, batch) -> key of the official timings file; inference keys hold one entry per model
REFERENCE_KEYS = {("deploy", 640, 1): "inference_deploy_640_bs1",
                  ("eval", 640, 1): "inference_trainingform_eval_640_bs1"}
REFERENCE_TRAIN = ("gold_yolo-n", 320, 8, "train_step_n_bs8_320")


def default_reference() -> Path:
    """``$GOLDYOLO_REFERENCE/torch_cpu_timings.json``, else ``../shared/reference`` beside the repository."""
    folder = os.environ.get("GOLDYOLO_REFERENCE", str(REPO.parent / "shared" / "reference"))
    return Path(folder) / REFERENCE_FILE


def _reference_entry(data: Dict, m: Dict) -> Optional[tuple]:
    """(key, entry) of the official timing taken in the same setting as measurement ``m``."""
    if m.get("device") != "cpu" or "stats_ms" not in m or m.get("precision", "float32") != "float32":
        return None  # the recorded official timings are float32 on the CPU
    key = REFERENCE_KEYS.get((m["mode"], m["img_size"], m["batch"]))
    if key and m["model"] in data.get(key, {}):
        return key, data[key][m["model"]]
    model, size, batch, key = REFERENCE_TRAIN
    if m["mode"] == "train_step" and (m["model"], m["img_size"], m["batch"]) == (model, size, batch) and key in data:
        return key, data[key]
    return None


def reference_comparison(measurements: List[Dict], path: Optional[str] = None) -> Dict:
    """The official PyTorch timings and the ratio Jittor / PyTorch of every matching setting."""
    path = Path(path) if path else default_reference()
    if not path.is_file():
        return {"file": portable_path(path), "available": False, "note": "official PyTorch timings not found"}
    data = json.loads(path.read_text())
    rows = []
    for m in measurements:
        found = _reference_entry(data, m)
        if not found:
            continue
        key, entry = found
        jittor_ms = m["stats_ms"]["median"]
        row = {"model": m["model"], "img_size": m["img_size"], "batch": m["batch"], "mode": m["mode"],
               "reference_key": key, "torch_median_ms": entry["median_ms"], "jittor_median_ms": jittor_ms,
               "ratio_jittor_over_torch": jittor_ms / entry["median_ms"]}
        if m["mode"] == "train_step":
            row["note"] = f"PyTorch timed: {entry.get('what', '?')}; Jittor's step includes the SGD and EMA updates"
        rows.append(row)
    return {"file": portable_path(path), "available": True, "date": data.get("date", "not recorded in the file"),
            "torch_version": data.get("torch_version"), "torch_num_threads": data.get("torch_num_threads"),
            "python": data.get("python"), "hardware": data.get("cpu", {"model_name": data.get("cpu_model")}),
            "method": data.get("note"), "comparisons": rows}


def with_torch(jittor: Dict, torch: Dict) -> Dict:
    """A Jittor measurement with the official PyTorch one of the same setting (``torch``) and, when
    both succeeded, ``ratio_jittor_over_torch`` = Jittor median / PyTorch median."""
    merged = {**jittor, "torch": torch}
    if "stats_ms" in jittor and "stats_ms" in torch:
        merged["ratio_jittor_over_torch"] = jittor["stats_ms"]["median"] / torch["stats_ms"]["median"]
    return merged


def _precision(m: Dict) -> str:
    precision = m.get("precision", "float32")
    return "" if precision == "float32" else f" {precision}"


def _label(m: Dict) -> str:
    return f"{m['model']} {m['img_size']}px bs{m['batch']} {m['mode']}{_precision(m)}"


def _row(label: str, m: Dict) -> str:
    """One table line: the spread, images/s and memory of measurement ``m``, or why it failed."""
    if "error" in m:
        return f"{label:38s} failed: {(m['error'].strip().splitlines() or ['?'])[-1]}"
    s, mem = m["stats_ms"], m["memory"]
    model_mib = (mem["rss_after_model_kib"] - mem["rss_before_model_kib"]) / 1024
    return (f"{label:38s} {s['median']:8.1f} {s['mean']:8.1f} {s['min']:8.1f} {s['p10']:8.1f} {s['p90']:8.1f} "
            f"{s['max']:8.1f} {s['std']:7.1f} {m['images_per_s']:7.1f} {mem['peak_rss_kib'] / 1024:8.0f} "
            f"{model_mib:7.0f}")


def _same_run_lines(report: Dict) -> List[str]:
    """What the official PyTorch side of this run was: the checkout, torch, threads, stand-ins."""
    done = [m["torch"] for m in report["measurements"] if "stats_ms" in m.get("torch", {})]
    if not done:
        return [f"official PyTorch ({report['settings']['torch_reference']}): no setting was timed"]
    t = done[0]
    shims = ", ".join(t["shims"]) or "none (real mmcv)"
    return [f"official PyTorch, same run: {t['official_code']}, torch {t['torch_version']}, "
            f"{t['torch_num_threads']} threads (as Jittor), mmcv stand-ins: {shims}"]


def format_table(report: Dict) -> str:
    """The stdout summary: one line per measurement, warnings, then the PyTorch comparison."""
    hw = report["hardware"]
    threads = " ".join(f"{k}={v}" for k, v in report["thread_environment"].items()) or "none set"
    lines = [f"{hw['cpu_model']}, {hw['cpu_cores_usable']} cores usable, {hw['ram_total_gib']} GiB RAM, "
             f"load {hw['load_average_1_5_15'][0]:.2f}; jittor {report['versions']['jittor']}; "
             f"OpenMP/oneDNN variables: {threads}",
             f"{'setting':38s} {'median':>8s} {'mean':>8s} {'min':>8s} {'p10':>8s} {'p90':>8s} {'max':>8s} "
             f"{'std':>7s} {'img/s':>7s} {'peakRSS':>8s} {'model':>7s}",
             f"{'':38s} {'ms':>8s} {'ms':>8s} {'ms':>8s} {'ms':>8s} {'ms':>8s} {'ms':>8s} {'ms':>7s} "
             f"{'':>7s} {'MiB':>8s} {'MiB':>7s}"]
    warnings = []
    for m in report["measurements"]:
        lines.append(_row(_label(m), m))
        if "torch" in m:
            lines.append(_row("  official PyTorch, same setting", m["torch"]))
        if "ratio_jittor_over_torch" in m:
            lines.append(f"  jittor/torch (medians) {m['ratio_jittor_over_torch']:.2f}")
        if "error" in m:
            continue
        s = m["stats_ms"]
        if m["kernels_loaded_timed"]:
            warnings.append(f"{_label(m)}: {m['kernels_loaded_timed']} kernels first loaded during the timed runs "
                            "(compilation inside the clock): raise --warmup")
        if s["max"] > 2 * s["median"]:
            warnings.append(f"{_label(m)}: max {s['max']:.1f} ms > 2x median (a busy machine?)")
        if m["load_average_1_5_15"][0] > hw["cpu_cores_usable"]:
            warnings.append(f"{_label(m)}: load average {m['load_average_1_5_15'][0]:.1f} on "
                            f"{hw['cpu_cores_usable']} cores (this run's threads included): the CPU was shared")
    lines.append("peakRSS: process peak resident memory; model: its growth while building the model "
                 "(before it: the interpreter, Jittor and goldyolo, and torch on the PyTorch lines)")
    lines += [f"warning: {w}" for w in warnings]
    if report["settings"].get("torch_reference"):
        lines += _same_run_lines(report)
    else:
        lines.append("no official checkout given (--torch-reference PATH), so PyTorch was not timed in this run; "
                     "comparing with the recorded official timings")
    ref = report["reference"]
    if not ref["available"]:
        lines.append(f"recorded PyTorch reference: {ref['note']} ({ref['file']})")
        return "\n".join(lines)
    lines.append(f"recorded PyTorch reference: torch {ref['torch_version']}, {ref['torch_num_threads']} threads, "
                 f"{ref['hardware'].get('model_name')}, date {ref['date']}")
    for row in ref["comparisons"]:
        lines.append(f"  {_label(row):36s} torch {row['torch_median_ms']:8.1f} ms  "
                     f"jittor {row['jittor_median_ms']:8.1f} ms  jittor/torch {row['ratio_jittor_over_torch']:.2f}")
        if "note" in row:
            lines.append(f"    ({row['note']})")
    if not ref["comparisons"]:
        lines.append("  no timed setting matches a reference setting (640px bs1 eval/deploy; N 320px bs8 train_step)")
    return "\n".join(lines)


def format_layers(m: Dict, top: int = 15) -> str:
    """A measurement's layer profile: the top-level modules, then the ``top`` slowest of their
    children by time spent in the module itself."""
    rows = m["layers"]
    lines = [f"layer profile, {_label(m)} (synced per module, so the sum exceeds the latency):",
             f"  {'module':28s} {'type':30s} {'calls':>5s} {'ms':>9s} {'self ms':>9s}"]
    tops = sorted((r for r in rows if r["depth"] == 0), key=lambda r: r["ms"], reverse=True)
    for row in tops + [r for r in rows if r["depth"] > 0][:top]:
        lines.append(f"  {row['name']:28s} {row['type']:30s} {row['calls']:5d} {row['ms']:9.2f} {row['self_ms']:9.2f}")
    return "\n".join(lines)


def format_ops(m: Dict) -> str:
    """A measurement's kernel time by kind (``--profile-ops``)."""
    ops = m["ops"]
    lines = [f"kernel time by kind, {_label(m)}: {ops['kernel_ms']:.0f} ms in kernels of one call "
             f"(median latency {m['stats_ms']['median']:.0f} ms)"]
    lines += [f"  {k['kind']:<66s} {k['ms']:8.1f} ms {100 * k['share']:5.1f}%  {k['kernels']:5d} runs"
              for k in ops["kinds"]]
    onednn = ops.get("onednn")
    if onednn:
        lines.append("oneDNN primitives of the same call (its verbose log): "
                     + ", ".join(f"{kind} {ms:.1f} ms ({onednn['calls'][kind]})"
                                 for kind, ms in sorted(onednn["primitive_ms"].items(), key=lambda item: -item[1])))
        lines += [f"  {r['kind']:<12s} {r['what'][:72]:<72s} {r['ms']:8.1f} ms {r['calls']:5d} runs"
                  for r in onednn["implementations"][:6]]
    return "\n".join(lines)
