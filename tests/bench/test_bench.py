"""``python -m goldyolo bench``: synced timing, reported spread, layer profile, reference ratios, the command,
the official PyTorch model timed in the same run (``--torch-reference``)."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from goldyolo import build_model
from goldyolo.bench.measure import measure, synthetic_targets, train_step_fn
from goldyolo.bench.plots import figure, plot
from goldyolo.bench.profile_layers import layer_profile
from goldyolo.bench.profile_ops import GENERATED, kernel_kind, op_profile
from goldyolo.bench.tables import format_table, reference_comparison, with_torch
from goldyolo.bench.timing import summarize, time_runs
from goldyolo.cli import main
from goldyolo.runtime import jt

from conftest import OFFICIAL_CODE, REFERENCE

STATS = ("min", "p10", "median", "p90", "max")


def assert_spread(stats: dict) -> None:
    assert {"median", "mean", "std", "p10", "p90", "min", "max"} <= set(stats)
    values = [stats[k] for k in STATS]
    assert values == sorted(values) and stats["std"] >= 0


@pytest.mark.parametrize("sync", [None, False])
def test_time_runs_refuses_to_time_without_sync(sync):
    with pytest.raises(ValueError, match="without synchronisation"):
        time_runs(lambda: 1, runs=3, warmup=1, sync=sync)


def test_time_runs_syncs_before_and_after_every_timed_call():
    calls = []
    result = time_runs(lambda: "out", runs=3, warmup=2, sync=lambda output=None: calls.append(output))
    assert calls == ["out"] * 2 + [None, "out"] * 3
    assert len(result["times_ms"]) == 3 and result["kernels_loaded_timed"] == 0


def test_summary_reports_an_ordered_spread():
    stats = summarize([5.0, 1.0, 3.0, 2.0, 4.0, 100.0])
    assert_spread(stats)
    assert stats["median"] == 3.5 and stats["max"] == 100.0 and stats["n"] == 6


def test_eval_measurement_compiles_only_during_warmup():
    result = measure("gold_yolo-n", 64, 1, "eval", warmup=1, runs=3)
    assert_spread(result["stats_ms"])
    assert len(result["times_ms"]) == 3 and result["kernels_loaded_timed"] == 0
    assert result["images_per_s"] == pytest.approx(1e3 / result["stats_ms"]["median"])
    memory = result["memory"]
    assert 0 < memory["rss_before_model_kib"] <= memory["rss_after_model_kib"] <= memory["peak_rss_kib"]


def test_train_step_measurement_runs_the_official_step_and_profiles_its_kernels(monkeypatch):
    targets = synthetic_targets(2, 80)
    assert targets.shape == (6, 6) and set(targets[:, 0]) == {0, 1}
    assert (targets[:, 2:4] - targets[:, 4:6] / 2 >= 0).all() and (targets[:, 2:4] + targets[:, 4:6] / 2 <= 1).all()
    result = measure("gold_yolo-n", 64, 2, "train_step", warmup=1, runs=2, profile_ops=True)
    assert_spread(result["stats_ms"])
    assert result["mode"] == "train_step" and min(result["times_ms"]) > 0
    kinds = {k["kind"]: k for k in result["ops"]["kinds"]}
    assert {"convolution forward, oneDNN", "convolution backward (input and weights), oneDNN",
            "batch norm, parallel kernels", GENERATED} <= set(kinds)
    assert kinds["convolution forward, oneDNN"]["kernels"] == 133  # N's training form has 133 convolutions
    assert kinds["convolution backward (input and weights), oneDNN"]["kernels"] == 133
    assert sum(k["share"] for k in kinds.values()) == pytest.approx(1.0)
    assert result["ops"]["kernel_ms"] == pytest.approx(sum(k["ms"] for k in kinds.values()))
    monkeypatch.setenv("GOLDYOLO_BN_KERNELS", "0")  # the composed BN: no BN kernels, more generated ones
    composed = {k["kind"]: k
                for k in op_profile(train_step_fn(build_model("gold_yolo-n"), jt.rand(2, 3, 64, 64)))["kinds"]}
    assert "batch norm, parallel kernels" not in composed
    assert composed[GENERATED]["kernels"] > kinds[GENERATED]["kernels"]


def test_kernel_kinds_follow_the_profiler_names():
    assert kernel_kind("mkl_conv_backward_w«Txd:float32") == "convolution backward (weights), oneDNN"
    assert kernel_kind("mkl_conv«Txd:float32") == "convolution forward, oneDNN"
    assert kernel_kind("code«IN_SIZE:3«CODE:// goldyolo batch-norm kernel: forward") == "batch norm, parallel kernels"
    assert kernel_kind("code«IN_SIZE:1«CODE:for (int i0=0;") == "other hand-written kernels"
    assert kernel_kind("«opkey0:broadcast_to«Tx:float32«opkey1:reduce") == GENERATED


def test_layer_profile_finds_a_slowed_layer():
    model = build_model("gold_yolo-n").eval()
    slowed = model.neck.Rep_p4
    execute = slowed.execute

    def sleepy(*args):
        time.sleep(0.05)
        return execute(*args)
    slowed.execute = sleepy
    rows = layer_profile(model, jt.rand(1, 3, 64, 64), warmup=1, runs=1)
    assert rows[0].name == "neck.Rep_p4" and rows[0].self_ms >= 50
    by_name = {row.name: row for row in rows}
    assert {"backbone", "neck", "detect", "backbone.ERBlock_2", "detect.stems"} <= set(by_name)
    assert by_name["neck"].ms >= by_name["neck.Rep_p4"].ms and by_name["detect.stems"].calls == 3
    assert slowed.execute is sleepy and "execute" not in model.neck.__dict__


def _measurement(model: str, size: int, batch: int, mode: str, median: float) -> dict:
    return {"model": model, "img_size": size, "batch": batch, "mode": mode, "device": "cpu",
            "stats_ms": {"median": median, "p10": median * 0.9, "p90": median * 1.1}}


@pytest.mark.needs_reference("torch_cpu_timings.json")
def test_reference_comparison_matches_settings(tmp_path):
    timings = REFERENCE / "torch_cpu_timings.json"
    measurements = [_measurement("gold_yolo-n", 640, 1, "deploy", 181.98160400015694),
                    _measurement("gold_yolo-s", 640, 1, "eval", 100.0),
                    _measurement("gold_yolo-n", 320, 8, "train_step", 838.5840949999874),
                    _measurement("gold_yolo-n", 640, 2, "deploy", 100.0),
                    dict(_measurement("gold_yolo-n", 640, 1, "deploy", 50.0), precision="float16")]
    ref = reference_comparison(measurements, str(timings))
    assert ref["available"] and ref["torch_version"] == "2.13.0+cpu" and ref["hardware"]["model_name"] == "AMD EPYC"
    ratios = {(r["model"], r["mode"]): r["ratio_jittor_over_torch"] for r in ref["comparisons"]}
    assert ratios == pytest.approx({("gold_yolo-n", "deploy"): 2.0, ("gold_yolo-s", "eval"): 100.0 / 308.23664249999183,
                                    ("gold_yolo-n", "train_step"): 1.0})
    missing = reference_comparison(measurements, str(tmp_path / "none.json"))
    assert missing["available"] is False and "not found" in missing["note"]
    report = {"measurements": measurements, "reference": ref, "hardware": {"cpu_model": "cpu"},
              "settings": {"model": "gold_yolo-n", "img_size": 640, "device": "cpu"}}
    assert plot(report, tmp_path / "b.png").stat().st_size > 0


def test_bench_command_end_to_end(tmp_path):
    out = tmp_path / "b.json"
    done = subprocess.run([sys.executable, "-m", "goldyolo", "bench", "--model", "gold_yolo-n", "--img-size", "64",
                           "--batch", "1", "--warmup", "1", "--runs", "2", "--fused", "--profile-layers",
                           "--profile-ops", "--plot", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert {"cpu_model", "cpu_cores", "ram_total_gib", "gpus"} <= set(report["hardware"])
    assert {"python", "jittor", "numpy", "goldyolo", "git_commit"} <= set(report["versions"])
    assert report["date"] and report["settings"]["batches"] == [1] and "available" in report["reference"]
    assert isinstance(report["thread_environment"], dict)
    (m,) = report["measurements"]
    assert m["mode"] == "deploy" and len(m["times_ms"]) == 2 and m["memory"]["peak_rss_kib"] > 0
    assert_spread(m["stats_ms"])
    assert np.isfinite(m["images_per_s"]) and m["layers"][0]["self_ms"] >= m["layers"][-1]["self_ms"]
    assert "gold_yolo-n 64px bs1 deploy" in done.stdout and "layer profile" in done.stdout
    assert m["ops"]["kinds"][0]["kind"] == "convolution forward, oneDNN" and "kernel time by kind" in done.stdout
    onednn = m["ops"]["onednn"]  # oneDNN's own log: every deploy convolution of N, and the layout changes around them
    assert onednn["calls"]["convolution"] == 95 and onednn["calls"]["reorder"] > 0
    assert onednn["primitive_ms"]["convolution"] > 0 and "oneDNN primitives of the same call" in done.stdout
    assert (tmp_path / "b.png").exists()


@pytest.mark.parametrize("missing", ["folder", "file"])
def test_torch_reference_without_the_official_code_fails_before_timing(tmp_path, capsys, missing):
    path = tmp_path / "nowhere" if missing == "folder" else tmp_path
    code = main(["bench", "--model", "gold_yolo-n", "--img-size", "64", "--torch-reference", str(path),
                 "--out", str(tmp_path / "b.json")])
    out, err = capsys.readouterr()
    assert code == 2 and str(path) in err and "timing" not in out and not (tmp_path / "b.json").exists()
    assert ("no such folder" if missing == "folder" else "configs/gold_yolo-n.py is missing") in err


def _full_measurement(median: float, **extra) -> dict:
    m = _measurement("gold_yolo-n", 640, 1, "deploy", median)
    m["stats_ms"].update(mean=median, min=median, max=median, std=0.0)
    return {**m, "images_per_s": 1e3 / median, "kernels_loaded_timed": 0, "load_average_1_5_15": [0.0, 0.0, 0.0],
            "memory": {"rss_before_model_kib": 1024, "rss_after_model_kib": 2048, "peak_rss_kib": 4096}, **extra}


def test_same_run_torch_measurement_gives_the_ratio_in_json_table_and_plot(tmp_path):
    torch_m = _full_measurement(50.0, torch_version="2.x", torch_num_threads=2, shims=["mmcv.cnn.ConvModule"],
                                official_code="/official")
    done = with_torch(_full_measurement(100.0), torch_m)
    failed = with_torch(_full_measurement(80.0), {"error": "Traceback\nImportError: no torch"})
    assert done["torch"] is torch_m and done["ratio_jittor_over_torch"] == pytest.approx(2.0)
    assert "ratio_jittor_over_torch" not in failed and failed["torch"]["error"]
    report = {"measurements": [done, failed], "reference": {"available": False, "note": "not found", "file": "x"},
              "hardware": {"cpu_model": "cpu", "cpu_cores_usable": 2, "ram_total_gib": 1, "load_average_1_5_15": [0]},
              "versions": {"jittor": "1"}, "thread_environment": {},
              "settings": {"model": "gold_yolo-n", "img_size": 640, "device": "cpu", "torch_reference": "/official"}}
    table = format_table(report)
    assert "jittor/torch (medians) 2.00" in table and "failed: ImportError: no torch" in table
    assert "official PyTorch, same run: /official, torch 2.x, 2 threads" in table
    assert "no official checkout" not in table
    assert plot(report, tmp_path / "b.png").stat().st_size > 0
    report["measurements"].append(dict(_full_measurement(900.0), batch=32))
    report["measurements"].append(dict(_full_measurement(5.0), batch=32, mode="eval"))
    fig = figure(report)  # one panel per batch size, both frameworks with their spread
    assert [ax.get_title() for ax in fig.axes] == [f"batch {done['batch']}", "batch 32"]
    # 50-100 ms stay on a linear axis; 5 and 900 ms in one panel need a log axis
    assert [(ax.get_yscale(), ax.get_ylabel()) for ax in fig.axes] == [("linear", "ms per batch"),
                                                                      ("log", "ms per batch (log scale)")]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["Jittor (median, p10-p90)", "official PyTorch, this run (median, p10-p90)"]
    del report["measurements"][-2:]
    report["settings"]["torch_reference"] = None
    assert "no official checkout given (--torch-reference PATH)" in format_table(report)


def _official_params(form: str) -> int:
    """Parameter count of the official gold_yolo-n in ``form`` (training_form / deploy_form), as recorded
    with the official code in the reference's ``models.json``."""
    return json.loads((REFERENCE / "models.json").read_text())["models"]["gold_yolo-n"][form]["params_total"]


@pytest.mark.needs_official_code
@pytest.mark.needs_reference("models.json")
def test_bench_times_the_official_model_in_the_same_run(tmp_path):
    path = str(OFFICIAL_CODE)
    out = tmp_path / "b.json"
    done = subprocess.run([sys.executable, "-m", "goldyolo", "bench", "--model", "gold_yolo-n", "--img-size", "64",
                           "--batch", "1", "--warmup", "1", "--runs", "1", "--fused", "--torch-reference", path,
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    (m,) = json.loads(out.read_text())["measurements"]
    torch_m = m["torch"]
    assert torch_m["mode"] == "deploy" and torch_m["stats_ms"]["median"] > 0 and torch_m["torch_num_threads"] >= 1
    assert m["ratio_jittor_over_torch"] == pytest.approx(m["stats_ms"]["median"] / torch_m["stats_ms"]["median"])
    assert torch_m["params_total"] == _official_params("deploy_form")
    assert "jittor/torch (medians)" in done.stdout and "official PyTorch, same run" in done.stdout


@pytest.mark.needs_official_code
@pytest.mark.needs_reference("models.json")
def test_official_train_step_is_timed(tmp_path):
    path = str(OFFICIAL_CODE)
    out = tmp_path / "t.json"
    done = subprocess.run([sys.executable, "-m", "goldyolo", "bench", "--single-torch", "train_step",
                           "--torch-reference", path, "--model", "gold_yolo-n", "--img-size", "64", "--batch", "2",
                           "--warmup", "1", "--runs", "1", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["stats_ms"]["median"] > 0 and result["memory"]["peak_rss_kib"] > 0
    assert result["params_total"] == _official_params("training_form")


@pytest.mark.needs_official_code
def test_official_half_precision_settings_are_timed(tmp_path):
    path = str(OFFICIAL_CODE)
    for mode, precision in (("deploy", "float16"), ("train_step", "amp")):
        out = tmp_path / f"{mode}.json"
        done = subprocess.run([sys.executable, "-m", "goldyolo", "bench", "--single-torch", mode, "--fp16",
                               "--torch-reference", path, "--model", "gold_yolo-n", "--img-size", "64", "--batch", "2",
                               "--warmup", "1", "--runs", "1", "--out", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        result = json.loads(out.read_text())
        assert result["precision"] == precision and result["stats_ms"]["median"] > 0
