"""Notebook 04's benchmark suite (``goldyolo_study.bench_suite``): commands, children, tables."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from goldyolo_study import bench_suite
from goldyolo_study.bench_suite import BenchJob

CI_TRAIN = {"model": "gold_yolo-n", "img_size": 128, "batch": 2}


def measurement(model="gold_yolo-n", size=128, batch=1, mode="deploy", median=10.0, torch_median=None, kinds=None):
    m = {"model": model, "img_size": size, "batch": batch, "mode": mode, "images_per_s": 1000.0 * batch / median,
         "stats_ms": {"median": median, "p10": median - 1, "p90": median + 2, "min": median - 2, "max": median + 4},
         "runs": 3, "memory": {"peak_rss_kib": 2048}}
    if torch_median is not None:
        m["torch"] = {"stats_ms": {"median": torch_median}}
        m["ratio_jittor_over_torch"] = median / torch_median
    if kinds is not None:
        m["ops"] = {"kinds": [{"kind": kind, "ms": ms} for kind, ms in kinds.items()]}
    return m


class FakeBench:
    """Stands in for run_watched: writes the json a bench child would and records the call."""

    def __init__(self, returncode=0, write=True):
        self.calls, self.returncode, self.write = [], returncode, write

    def __call__(self, command, timeout_s, env=None):
        self.calls.append((command, timeout_s, env))
        out = Path(command[command.index("--out") + 1])
        if self.write:
            out.parent.mkdir(parents=True, exist_ok=True)
            measurements = [measurement(batch=int(b)) for b in command[command.index("--batch") + 1].split(",")]
            out.write_text(json.dumps({"hardware": {"cpu_model": "AMD EPYC 9R14"}, "measurements": measurements,
                                       "reference": {"file": "ref.json", "comparisons": [{"model": out.stem}],
                                                     "hardware": {"model_name": "AMD EPYC"}}}))
        return subprocess.CompletedProcess(command, self.returncode, f"compiling...\nsetting {out.stem}\n",
                                           "x" * 5000 + "boom")


def test_jobs_and_commands():
    jobs = bench_suite.suite_jobs(["gold_yolo-n", "gold_yolo-s"], 128, [1, 2], CI_TRAIN)
    assert [job.name for job in jobs] == ["gold_yolo-n_128", "gold_yolo-s_128", "gold_yolo-n_128_train"]
    assert jobs[-1] == bench_suite.train_job(CI_TRAIN) == BenchJob("gold_yolo-n", 128, (2,), True)
    assert bench_suite.bench_command(jobs[0], Path("b/n.json"), 3) == [
        sys.executable, "-m", "goldyolo", "bench", "--model", "gold_yolo-n", "--img-size", "128", "--fused",
        "--batch", "1,2", "--warmup", "2", "--runs", "3", "--out", "b/n.json", "--plot"]
    command = bench_suite.bench_command(jobs[-1], Path("t.json"), 3, plot=False)
    assert "--plot" not in command and "--torch-reference" not in command
    assert command[-2:] == ["--train-step", "--profile-ops"]


def test_run_suite_reads_each_childs_json(tmp_path, capsys, monkeypatch):
    fake = FakeBench()
    jobs = bench_suite.suite_jobs(["gold_yolo-n"], 128, [1, 2], CI_TRAIN)
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")  # set for a background run: not for the timed children
    reports = bench_suite.run_suite(jobs, tmp_path, 2, 60.0, run=fake)
    assert all("OMP_WAIT_POLICY" not in call[2] and call[2]["PATH"] == os.environ["PATH"] for call in fake.calls)
    assert all("--plot" not in call[0] for call in fake.calls)  # the document shows the table, not the bars
    assert [call[1] for call in fake.calls] == [60.0, 60.0]
    assert [len(r["measurements"]) for r in reports] == [2, 1]
    assert capsys.readouterr().out == ""  # the document shows the json's tables, not the children's output
    reference, comparisons = bench_suite.recorded_comparisons(reports)
    assert reference["file"] == "ref.json"
    assert comparisons == [{"model": "gold_yolo-n_128"}, {"model": "gold_yolo-n_128_train"}]
    assert bench_suite.recorded_comparisons([]) == ({}, [])
    elsewhere = [dict(report, hardware={"cpu_model": "Intel(R) Xeon(R) Processor"}) for report in reports]
    assert bench_suite.recorded_comparisons(elsewhere)[1] == []  # times of two CPUs are not set side by side


def test_recorded_table_names_the_setting():
    rows = [{"model": "gold_yolo-n", "img_size": 320, "batch": 8, "mode": "train_step", "reference_key": "k",
             "torch_median_ms": 838.58, "jittor_median_ms": 954.55, "ratio_jittor_over_torch": 1.1383,
             "note": "no optimizer step"},
            {"model": "gold_yolo-s", "img_size": 640, "batch": 1, "mode": "deploy", "reference_key": "k2",
             "torch_median_ms": 259.93, "jittor_median_ms": 291.2, "ratio_jittor_over_torch": 1.1203}]
    table = bench_suite.recorded_table(rows)
    assert table.values.tolist() == [
        ["Gold-YOLO-N 320 px, batch 8, train step", 838.6, 954.5, "no optimizer step"],
        ["Gold-YOLO-S 640 px, batch 1, deploy", 259.9, 291.2, ""]]


def test_invocation_drift_is_the_largest_move_of_one_setting():
    result = {"settings": [
        {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy",
         "invocation_medians_ms": [{"jittor": 100.0, "torch": 120.0}, {"jittor": 110.0, "torch": 150.0}]},
        {"model": "gold_yolo-s", "img_size": 640, "batch": 1, "mode": "deploy",
         "invocation_medians_ms": [{"jittor": 300.0, "torch": 310.0}, {"jittor": 330.0, "torch": 320.0}]}]}
    move, setting, framework = bench_suite.invocation_drift(result)
    assert move == pytest.approx(0.25) and setting == "Gold-YOLO-N 640 px, batch 1, deploy" and framework == "PyTorch"
    one = {"settings": [dict(result["settings"][0], invocation_medians_ms=[{"jittor": 1.0, "torch": 2.0}])]}
    assert bench_suite.invocation_drift(one) is None and bench_suite.invocation_drift({}) is None


def test_run_suite_shows_a_failed_childs_error_tail(tmp_path, capsys):
    with pytest.raises(FileNotFoundError):
        bench_suite.run_suite([BenchJob("gold_yolo-n", 128, (1,))], tmp_path, 2, 60.0,
                              run=FakeBench(returncode=1, write=False))
    out = capsys.readouterr().out
    assert out.startswith("gold_yolo-n_128 failed (exit 1):\n") and out.endswith("boom\n")
    assert len(out) == len("gold_yolo-n_128 failed (exit 1):\n") + 3001


def test_speed_table_flattens_the_measurements():
    reports = [{"measurements": [measurement(batch=1, median=10.0, torch_median=20.0),
                                 measurement(batch=4, median=30.0), {"model": "gold_yolo-n", "error": "oom"}]}]
    table = bench_suite.speed_table(reports)
    assert list(table.columns) == ["model", "size", "batch", "form", "median ms", "p10 ms", "p90 ms", "min ms",
                                   "max ms", "runs", "ms per image", "images/s", "peak RSS MiB", "PyTorch median ms",
                                   "Jittor / PyTorch"]
    assert table.batch.tolist() == [1, 4]
    assert table["ms per image"].tolist() == [10.0, 7.5]
    assert table["images/s"].tolist() == pytest.approx([100.0, 133.333], rel=1e-5)
    assert table["peak RSS MiB"].tolist() == [2.0, 2.0]
    assert table["PyTorch median ms"].iloc[0] == 20.0 and np.isnan(table["PyTorch median ms"].iloc[1])
    assert table["Jittor / PyTorch"].iloc[0] == 0.5 and np.isnan(table["Jittor / PyTorch"].iloc[1])
    assert bench_suite.speed_table([]).empty


def test_composed_bn_run_turns_the_kernels_off(tmp_path, capsys):
    fake = FakeBench()
    out = bench_suite.run_composed_bn(CI_TRAIN, tmp_path, 2, 30.0, run=fake)
    assert out == tmp_path / "gold_yolo-n_128_train_composed_bn.json"
    command, timeout_s, env = fake.calls[0]
    assert env["GOLDYOLO_BN_KERNELS"] == "0" and timeout_s == 30.0
    assert {"--train-step", "--profile-ops"} <= set(command) and "--plot" not in command
    assert capsys.readouterr().out == ""
    bench_suite.run_composed_bn(CI_TRAIN, tmp_path, 2, 30.0, run=FakeBench(returncode=1))
    assert capsys.readouterr().out.endswith("boom\n")


def test_kernel_table_sums_kinds_per_column(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"measurements": [measurement(), measurement(mode="train_step", median=90.0,
                                                                            kinds={"conv": 50.0, "bn": 30.0})]}))
    with_kernels = bench_suite.train_step_of(path)
    assert with_kernels["stats_ms"]["median"] == 90.0
    composed = measurement(mode="train_step", median=120.0, kinds={"conv": 50.0, "reduce": 60.0})
    table = bench_suite.kernel_table({"composed": composed, "kernels": with_kernels})
    assert table.index.tolist() == ["conv", "reduce", "bn", "all kernels", "training step, timed median"]
    assert table["composed"].tolist() == [50.0, 60.0, 0.0, 110.0, 120.0]
    assert table["kernels"].tolist() == [50.0, 0.0, 30.0, 80.0, 90.0]


@pytest.mark.slow
def test_run_suite_times_a_real_bench_child(tmp_path):
    job = BenchJob("gold_yolo-n", 64, (1,))
    reports = bench_suite.run_suite([job], tmp_path, 1, 600.0)
    table = bench_suite.speed_table(reports)
    assert table[["model", "size", "batch", "form"]].values.tolist() == [["gold_yolo-n", 64, 1, "deploy"]]
    assert table["median ms"].iloc[0] > 0 and (tmp_path / "gold_yolo-n_64.json").exists()


def test_display_table_fits_a_page():
    reports = [{"measurements": [measurement(batch=1, median=10.0, torch_median=20.0),
                                 measurement(batch=4, median=30.0)]}]
    table = bench_suite.display_table(bench_suite.speed_table(reports))
    assert list(table.columns) == ["model", "px", "batch", "form", "ms, median (min-max)", "timed runs",
                                   "ms per image", "images/s", "peak RSS MiB"]
    assert table["ms, median (min-max)"].tolist()[0] == "10.0 (8.0-14.0)"
    assert table["timed runs"].tolist() == [3, 3]
    assert table["ms per image"].tolist() == ["10.0", "7.5"]
    assert table["images/s"].tolist() == ["100.0", "133.3"]
    slow = bench_suite.display_table(bench_suite.speed_table([{"measurements": [measurement(median=273.4)]}]))
    assert slow["images/s"].tolist() == ["3.66"]  # not 3.7 shown as 3.70
    assert table.model.tolist()[0].startswith("Gold-YOLO-") and len(table) == 2
    assert bench_suite.display_table(bench_suite.speed_table([])).empty


def test_time_by_kind_side_by_side():
    def measurement(mode, precision, conv_ms, generated_ms):
        return {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": mode, "conv_precision": precision,
                "stats_ms": {"median": conv_ms + generated_ms + 1},
                "ops": {"kinds": [{"kind": "convolution forward, oneDNN", "ms": conv_ms},
                                  {"kind": "Jittor generated kernels", "ms": generated_ms}],
                        "onednn": {"primitive_ms": {"reorder": 2.0, "convolution": conv_ms - 2.0}}}}
    reports = [{"measurements": [measurement("deploy", "float32", 30.0, 4.0),
                                 {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "eval"}]},
               {"measurements": [measurement("deploy", "bf16", 10.0, 4.0)]}]
    table = bench_suite.time_by_kind_table(reports)
    assert list(table.columns) == ["Gold-YOLO-N 640 px, batch 1, deploy, float32",
                                   "Gold-YOLO-N 640 px, batch 1, deploy, bf16"]  # the unprofiled one left out
    assert list(table.index) == ["median latency", "convolution forward, oneDNN", "Jittor generated kernels",
                                 "of which oneDNN convolution", "of which oneDNN reorder"]
    assert table.loc["median latency"].tolist() == [35.0, 15.0]
    assert table.loc["of which oneDNN convolution"].tolist() == [28.0, 8.0]


def test_cpu_options_merges_files_and_keeps_the_newest_measurement_of_a_setting(tmp_path):
    assert bench_suite.cpu_options(tmp_path) is None
    folder = tmp_path / "speed_ab"
    folder.mkdir()

    def setting(batch, mode="deploy", ratio=1.0):
        return {"model": "gold_yolo-n", "img_size": 640, "batch": batch, "mode": mode, "ratio": ratio}
    first = {"date": "2026-12-06T08:00", "hardware": {"cpu_model": "first"},
             "settings": [setting(1), setting(8, "train_step", ratio=1.05)]}
    second = {"date": "2026-12-06T09:00", "hardware": {"cpu_model": "second"}, "settings": [setting(32)]}
    again = {"date": "2026-12-06T11:00", "hardware": {"cpu_model": "third"},
             "settings": [setting(8, "train_step", ratio=0.98)]}
    (folder / "cpu_options.json").write_text(json.dumps(first))
    (folder / "cpu_options_batch32.json").write_text(json.dumps(second))
    (folder / "cpu_options_train.json").write_text(json.dumps(again))
    (folder / "speed_ab.json").write_text(json.dumps({"settings": [setting(99)]}))
    merged = bench_suite.cpu_options(tmp_path)
    assert merged["hardware"] == {"cpu_model": "first"}
    assert [(s["batch"], s["ratio"]) for s in merged["settings"]] == [(1, 1.0), (32, 1.0), (8, 0.98)]
    assert [(p["file"], len(p["settings"])) for p in merged["parts"]] == [
        ("cpu_options.json", 1), ("cpu_options_batch32.json", 1), ("cpu_options_train.json", 1)]
    merged.update(config={"warmup": 3}, hardware={"cpu_model": "a CPU", "cpu_cores_usable": 2})
    for part, commit in zip(merged["parts"], ("aaaaaaa1", "bbbbbbb2", "ccccccc3")):
        part["commit"] = commit
    lines = bench_suite.cpu_options_lines(merged)
    assert lines[0].startswith("a CPU, 2 cores; per setting and invocation a warm worker per variant, 3 warm-up")
    assert lines[-1] == "measured 2026-12-06 at commit ccccccc: Gold-YOLO-N 640 px, batch 8, train step"
    merged["parts"][0]["commit"] = "a" * 40 + "-dirty"  # a run with uncommitted changes keeps its mark
    lines = bench_suite.cpu_options_lines(merged)
    assert lines[2].startswith("measured 2026-12-06 at commit aaaaaaa+: ") and lines[-1] == bench_suite.DIRTY
    profiles = [{"hardware": {"cpu_model": "a CPU", "cpu_cores_usable": 2}, "date": "2026-12-06T10:00",
                 "versions": {"git_commit": c}} for c in ("b" * 40, "c" * 40 + "-dirty", "b" * 40)]
    assert bench_suite.profiles_line(profiles) == ("a CPU, 2 cores, 2026-12-06, commits bbbbbbb, ccccccc+; "
                                                   "+ marks uncommitted changes")


def test_load_line_says_whether_the_cores_were_shared():
    def report(*loads):
        return {"hardware": {"cpu_cores_usable": 2},
                "measurements": [{"load_average_1_5_15": [load, 0, 0]} for load in loads]}
    assert bench_suite.load_line([report(1.16, 1.67)]) == (
        "1-minute load average as each setting finished: 1.16-1.67 on 2 cores, the benchmark's own threads "
        "included; none above 2: no sign of other work on the cores in the minute before each")
    assert bench_suite.load_line([report(1.0), report(3.5)]).endswith("1 of 2 above 2: those ran on shared cores")
    assert bench_suite.load_line([{"hardware": {}, "measurements": [{}]}]) == "load average not recorded"


def test_machines_table_sets_runs_of_one_command_side_by_side():
    def result(cpu, date, ratio):
        return {"hardware": {"cpu_model": cpu}, "date": date + "T08:00:00",
                "settings": [{"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy", "ratio": ratio,
                              "ci_low": ratio - 0.01, "ci_high": ratio + 0.02}]}
    later = result("Xeon", "2026-12-06", 0.76)
    later["settings"].append(dict(later["settings"][0], batch=32, ratio=0.85, ci_low=0.84, ci_high=0.86))
    table = bench_suite.machines_table([later, result("EPYC", "2026-12-03", 0.97)])
    assert list(table.columns) == ["Xeon, 2026\u201112\u201106", "EPYC, 2026\u201112\u201103"]  # unbroken dates
    assert table.loc["Gold-YOLO-N 640 px, batch 1, deploy"].tolist() == ["0.76 (0.75-0.78)", "0.97 (0.96-0.99)"]
    assert table.loc["Gold-YOLO-N 640 px, batch 32, deploy"].tolist() == ["0.85 (0.84-0.86)", "-"]
