"""Interleaved Jittor/PyTorch timing (``goldyolo.compare.interleave``): settings, the ratio's interval, a worker,
and the whole command where the official code is given."""
from __future__ import annotations

import json

import numpy as np
import pytest

from goldyolo.compare import interleave
from goldyolo.compare.interleave import (
    VARIANTS,
    SpeedABConfig,
    Worker,
    applies,
    parse_settings,
    parse_variants,
    ratio_interval,
    summarize_setting,
)
from goldyolo.errors import InputError

from conftest import OFFICIAL_CODE, ROOT


def test_settings_are_parsed_and_bad_ones_named():
    assert parse_settings("gold_yolo-n:640:1:deploy, gold_yolo-s:320:8:train_step") == [
        ("gold_yolo-n", 640, 1, "deploy"), ("gold_yolo-s", 320, 8, "train_step")]
    for bad in ("gold_yolo-n:640:1", "gold_yolo-n:640:one:deploy", "gold_yolo-n:640:1:fast", ""):
        with pytest.raises(InputError, match="--settings"):
            parse_settings(bad)


def test_ratio_of_pooled_medians_and_its_interval():
    constant = [{"jittor": [10.0] * 20, "torch": [5.0] * 20}] * 3
    assert ratio_interval(constant) == (2.0, 2.0, 2.0)
    rng = np.random.default_rng(1)
    noisy = [{"jittor": list(100 + rng.normal(0, 5, 20)), "torch": list(100 + rng.normal(0, 5, 20))}
             for _ in range(3)]
    ratio, low, high = ratio_interval(noisy, seed=0)
    assert low < ratio < high and low < 1 < high and high - low < 0.15
    assert ratio_interval(noisy, seed=0) == (ratio, low, high)  # seeded
    slower = [{"jittor": [t * 1.3 for t in inv["jittor"]], "torch": inv["torch"]} for inv in noisy]
    assert ratio_interval(slower)[1] > 1.1  # a clear difference lies outside 1


def test_summary_per_setting():
    invocations = [{"jittor": [10.0, 12.0, 11.0] * 7, "torch": [5.0, 6.0, 5.5] * 7},
                   {"jittor": [20.0] * 21, "torch": [10.0] * 21}]
    entry = summarize_setting(("gold_yolo-n", 640, 1, "deploy"), invocations, seed=0)
    assert entry["runs"] == 21 and entry["invocations"] == 2 and entry["invocation_ratios"] == [2.0, 2.0]
    assert entry["jittor_median_ms"] == 16.0 and entry["torch_median_ms"] == 8.0 and entry["ratio"] == 2.0
    json.dumps(entry)  # it goes into the json as it is


def test_variants_are_parsed_with_the_reference_pair_first():
    assert parse_variants("torch-bf16, ort") == ["jittor", "torch", "torch-bf16", "ort"]
    with pytest.raises(InputError, match="unknown"):
        parse_variants("jittor,tensorrt")
    assert applies("ort", "deploy") and not applies("ort", "train_step") and not applies("ort", "eval")
    assert applies("torch-cl", "deploy") and not applies("torch-bf16-cl", "train_step")
    from goldyolo.commands import COMMANDS
    worker = [o for o in COMMANDS["speed-ab"].options if o.name == "worker"][0]
    assert list(worker.choices) == list(VARIANTS)


def test_every_variant_is_set_against_pytorch_float32():
    invocations = [{"jittor": [10.0] * 20, "torch": [5.0] * 20, "ort": [4.0] * 20}] * 2
    entry = summarize_setting(("gold_yolo-n", 640, 1, "deploy"), invocations, seed=0)
    assert entry["ratio"] == 2.0 and entry["variants"]["torch"]["ratio_to_torch"] == 1.0
    assert entry["variants"]["ort"] == {"description": VARIANTS["ort"], "ratio_to_torch": 0.8, "ci_low": 0.8,
                                        "ci_high": 0.8, "median_ms": 4.0}


def test_each_round_starts_one_worker_later_after_a_pause(monkeypatch):
    order, sleeps = [], []

    class FakeWorker:
        def __init__(self, framework, cfg, setting):
            self.framework = framework

        def time_one(self):
            order.append(self.framework)
            return 1.0

        def close(self):
            pass
    monkeypatch.setattr(interleave, "Worker", FakeWorker)
    monkeypatch.setattr(interleave.time, "sleep", sleeps.append)
    times = interleave.interleaved(SpeedABConfig(runs=3, pause_ms=50), "gold_yolo-n:64:1:deploy", ["a", "b", "c"])
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # each variant follows each other one
    assert sleeps == [0.05] * 9 and times == {"a": [1.0] * 3, "b": [1.0] * 3, "c": [1.0] * 3}


def test_too_few_runs_are_refused():
    with pytest.raises(InputError, match="at least 20 runs"):
        interleave.speed_ab(SpeedABConfig(torch_reference="x", runs=5))


@pytest.mark.parametrize("variant", ["jittor", "jittor-bf16", "ort"])
def test_a_worker_answers_one_timed_run_at_a_time(variant):
    worker = Worker(variant, SpeedABConfig(warmup=1), "gold_yolo-n:64:1:deploy")
    try:
        times = [worker.time_one() for _ in range(3)]
        memory = worker.memory_mib()
    finally:
        worker.close()
    assert all(0 < t < 60_000 for t in times) and worker.process.returncode == 0
    assert 20 < memory["rss_mib"] <= memory["peak_rss_mib"] < 8192


@pytest.mark.needs_official_code
def test_speed_ab_interleaves_both_frameworks(tmp_path):
    out = tmp_path / "speed_ab.json"
    cfg = SpeedABConfig(torch_reference=str(OFFICIAL_CODE),
                        settings="gold_yolo-n:64:1:deploy", runs=20, invocations=2, warmup=1, out=str(out),
                        variants="torch-cl,torch-bf16,ort", pause_ms=10)
    assert interleave.speed_ab(cfg) == f"written: {out}"
    deploy, = json.loads(out.read_text())["settings"]
    assert json.loads(out.read_text())["config"]["out"] == "OUTSIDE/speed_ab.json"  # no machine paths recorded
    assert deploy["invocations"] == 2 and len(deploy["times_ms"]) == 2
    assert all(len(inv[f]) == 20 for inv in deploy["times_ms"] for f in ("jittor", "torch", "torch-cl", "ort"))
    assert deploy["ci_low"] <= deploy["ratio"] <= deploy["ci_high"] and 0.1 < deploy["ratio"] < 10
    assert sorted(deploy["variants"]) == ["jittor", "ort", "torch", "torch-bf16", "torch-cl"]
    assert sorted(deploy["memory_mib"]) == sorted(deploy["variants"])
    assert all(0 < m["rss_mib"] <= m["peak_rss_mib"] for m in deploy["memory_mib"].values())


@pytest.mark.needs_official_code
def test_a_pytorch_bf16_worker_times_the_official_training_step():
    worker = Worker("torch-bf16", SpeedABConfig(torch_reference=str(OFFICIAL_CODE), warmup=1),
                    "gold_yolo-n:64:2:train_step")
    try:
        times = [worker.time_one() for _ in range(2)]
    finally:
        worker.close()
    assert all(0 < t < 60_000 for t in times) and worker.process.returncode == 0


def test_report_table_and_plot_of_the_committed_run():
    import matplotlib
    matplotlib.use("Agg")
    from goldyolo_study import bench_suite, plots
    result = json.loads((ROOT / "report" / "full" / "speed_ab" / "speed_ab.json").read_text())
    table = bench_suite.ab_table(result)
    assert len(table) == len(result["settings"]) >= 2 and table.setting[0] == "Gold-YOLO-N 640 px, batch 1, deploy"
    for row, entry in zip(table.itertuples(), result["settings"]):
        assert row.verdict == bench_suite.ab_verdict(entry)
        low, high = entry["ci_low"], entry["ci_high"]
        assert row.verdict == ("level (within noise)" if low <= 1 <= high else
                               "Jittor faster" if high < 1 else "PyTorch faster")
        assert len(entry["times_ms"]) == entry["invocations"] >= 3 and entry["runs"] >= 20
    assert bench_suite.ab_lines(result)[0].startswith("3 invocations x 20 timed runs")
    fig = plots.speed_ab(result)
    assert fig.axes[0].get_xlabel().startswith("Jittor time / PyTorch time")


def test_the_table_of_every_cpu_option():
    from goldyolo_study import bench_suite
    invocations = [{"jittor": [10.0] * 20, "torch": [8.0] * 20, "torch-bf16": [4.0] * 20, "ort": [6.0] * 20}] * 2
    entry = summarize_setting(("gold_yolo-n", 640, 1, "deploy"), invocations, seed=0)
    table = bench_suite.variants_table({"settings": [entry]})
    assert list(table.variant) == [VARIANTS[v] for v in ("torch-bf16", "ort", "torch", "jittor")]  # fastest first
    assert list(table["time / PyTorch float32 (95%)"]) == ["0.50 (0.50-0.50)", "0.75 (0.75-0.75)",
                                                           "1.00 (1.00-1.00)", "1.25 (1.25-1.25)"]
    memory = [{v: {"rss_mib": 100.0 + i, "peak_rss_mib": 200.0 + i} for v in invocations[0]} for i in (0, 5)]
    with_memory = bench_suite.variants_table({"settings": [summarize_setting(("gold_yolo-n", 640, 1, "deploy"),
                                                                             invocations, 0, memory)]})
    assert list(with_memory["resident MiB"]) == [105] * 4 and list(with_memory["peak MiB"]) == [205] * 4  # largest
    pair = summarize_setting(("gold_yolo-n", 640, 1, "deploy"), [{"jittor": [1.0] * 20, "torch": [1.0] * 20}], 0)
    assert bench_suite.variants_table({"settings": [pair]}).empty  # Jittor and PyTorch alone: the pair's table
