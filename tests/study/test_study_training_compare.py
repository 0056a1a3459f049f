"""Notebook 03's comparison, step parity, warm-up and long-run records (``goldyolo_study.training_compare``)."""
from __future__ import annotations

import json

import matplotlib
import pandas as pd
import pytest

from goldyolo_study import plots, runs
from goldyolo_study import training_compare as tc

from conftest import ROOT

matplotlib.use("Agg")
ENV = {"hardware": {"cpu_model": "a CPU", "cpu_cores_usable": 2, "gpus": []}}


def comparison(seeds=(0, 1)):
    def run(framework, seed, ap):
        epochs = [{"epoch": 0, "iou_loss": 1.5, "cls_loss": 2.0, "loss": 3.5, "lr": [0.0, 0.001, 0.09]},
                  {"epoch": 1, "iou_loss": 1.2, "cls_loss": 1.8 + ap, "loss": 3.0 + ap, "lr": [0.0, 0.002, 0.08],
                   "AP": ap, "AP50": 2 * ap}]
        if framework == "official":
            epochs[-1]["official_AP"] = ap / 2
        return {"framework": framework, "seed": seed, "epochs": epochs}
    from goldyolo.compare.train_compare import summarize
    result = {"runs": [run("goldyolo", s, 0.010 + 0.002 * s) for s in seeds]
              + [run("official", s, 0.011 + 0.004 * s) for s in seeds],
              "config": {"model": "gold_yolo-n", "img_size": 320, "batch_size": 16, "epochs": 2, "seeds": list(seeds),
                         "device": "cpu"}, "environment": ENV}
    result["summary"] = summarize(result["runs"], epochs=2)
    return result


def test_comparison_table_and_verdict():
    result = comparison()
    table = tc.comparison_table(result)
    assert table.loc[("official", 1), "AP"] == pytest.approx(0.015)
    assert table.loc[("official", 1), "official evaluator AP"] == pytest.approx(0.0075)
    assert pd.isna(table.loc[("goldyolo", 0), "official evaluator AP"])
    lines = tc.comparison_lines(result)
    assert lines[0] == "gold_yolo-n at 320 px, batch 16, 2 epochs, seeds 0, 1, on the CPU; machine: a CPU, 2 cores"
    assert lines[1] == ("goldyolo: final AP 0.0100, 0.0120 (mean 0.0110, spread 0.0020); AP50 mean 0.0220, spread "
                        "0.0040; last epoch's training loss mean 3.011, spread 0.002")
    # means 0.0110 vs 0.0130, difference -0.0020 within the larger spread 0.0040
    verdict = tc.difference_table(result)
    assert verdict.loc["final AP"].tolist() == ["-0.00200", "0.00400", "within the spread"]
    assert verdict.loc["last epoch's loss"].tolist() == ["-0.00200", "0.00400", "within the spread"]
    assert list(verdict.index) == ["final AP", "final AP50", "last epoch's loss", "last epoch's IoU loss",
                                   "last epoch's class loss"]
    assert result["summary"]["difference_cls_loss"]["largest_seed_spread"] == pytest.approx(0.004)
    assert tc.schedule_rows(result) == {"goldyolo": [0.001, 0.002], "official": [0.001, 0.002]}
    figure = plots.comparison_curves(result)
    assert figure.axes[2].get_title() == "learning rate, weights group (the same in every run)"  # lines overlap
    final = figure.axes[3]  # evaluated at the last epoch only: one bar per run
    assert final.get_ylabel() == "AP" and final.get_title().startswith("final AP") and len(final.patches) == 4
    assert [bar.get_height() for bar in final.patches] == pytest.approx([0.010, 0.012, 0.011, 0.015])
    for run in result["runs"]:
        run["epochs"][0].update(AP=0.001, AP50=0.002)
    result["runs"][0]["epochs"][1]["lr"] = [0.0, 0.003, 0.08]
    figure = plots.comparison_curves(result)
    assert figure.axes[2].get_title() == "learning rate, weights group"
    curves = figure.axes[3]
    assert len(curves.lines) == 4 and not curves.patches and curves.get_title().startswith("AP@")


def test_one_seed_is_not_a_verdict():
    lines = tc.comparison_lines(comparison(seeds=(0,)))
    assert lines[-1].startswith("Not finished") and tc.difference_table(comparison(seeds=(0,))).empty
    assert lines[1] == "goldyolo: final AP 0.0100, AP50 0.0200 (seed 0 alone); last epoch's training loss 3.010"


def test_phase_offsets_split_the_comparison_where_mosaic_stops():
    result = comparison()
    result["config"]["epochs"] = 2
    table = tc.phase_offsets(result, stop_aug_last_n_epoch=1)  # epoch 0 with mosaic, epoch 1 without
    row = table.loc[("class loss", "without mosaic")]
    # cls at epoch 1 is 1.8 + AP: goldyolo 1.810 / 1.812 against official 1.811 / 1.815
    assert row["goldyolo - official, mean per seed"] == "-0.0010, -0.0030" and row["goldyolo lower"] == "2 of 2"
    assert row["official: seed 0 - seed 1"] == "-0.0040 (1 of 1 lower)"
    assert table.loc[("IoU loss", "with mosaic"), "goldyolo lower"] == "0 of 2"
    ap = table.loc[("AP50", "evaluated epochs")]  # epoch 1 alone is evaluated: 0.020 / 0.024 against 0.022 / 0.030
    assert ap["goldyolo - official, mean per seed"] == "-0.0020, -0.0060" and ap["goldyolo lower"] == "2 of 2"
    assert ap["goldyolo: seed 0 - seed 1"] == "-0.0040 (1 of 1 lower)"


def test_a_forked_comparison_leaves_out_its_common_base():
    result = comparison()
    result["config"].update(epochs=2, fork_at=1, fork_seed=0)
    for run in result["runs"]:  # epoch 0 is the base every run starts from
        run["epochs"][0]["fork_base"] = True
    table = tc.phase_offsets(result, stop_aug_last_n_epoch=2)  # both epochs would be "without mosaic"
    assert list(table.index.get_level_values("phase")) == ["without mosaic"] * 3 + ["evaluated epochs"] * 2
    assert table.loc[("class loss", "without mosaic"), "goldyolo lower"] == "2 of 2"  # epoch 1 alone
    assert any("starts at epoch 1 from the state of one official run (seed 0" in line
               for line in tc.comparison_lines(result))


def test_parity_table_and_measures_from_the_committed_run():
    parity = tc.read_json(ROOT / "report" / "full" / "step_parity" / "step_parity.json")
    table = tc.parity_table(parity)
    assert list(table.index) == ["goldyolo", "control"] and (table["schedule equal"] == "yes").all()
    measures = tc.parity_measures(parity)
    assert (measures["within"] == "yes").all() and "other weights: EMA minus model" in measures.index
    weights = measures.loc["other weights: change of the final weights"]
    assert weights["limit"] == pytest.approx(3 * weights["control"])
    line = tc.parity_line(parity)
    assert line.startswith("gold_yolo-n, 128 px, batch 16, 60 steps in epochs of 6, 17 of them optimizer steps")
    assert "warm-up 12 steps" in line and line.endswith("Verdict: passed (schedule equal, every measure within 3 x "
                                                        "the control's)")
    assert len(plots.parity_curves(parity).axes) == 2
    assert tc.read_json(ROOT / "no such file.json") is None
    assert tc.parity_measures({"goldyolo": {}}) is None  # a run made before the measures


def test_no_mosaic_step_parity_from_the_committed_run():
    result = tc.read_json(ROOT / "report" / "full" / "step_parity" / "no_mosaic_320" / "step_parity.json")
    assert result["config"]["img_size"] == 320 and result["config"]["mosaic"] is False
    assert "augmented batches without mosaic" in tc.parity_line(result) and result["verdict"]["passed"]
    line = tc.parity_line(result)  # the figures the conclusion quotes are in the body's line
    largest = max(result["goldyolo"]["step_differences"]["total_loss"])
    assert f"Total loss: largest step difference {largest:.1e} (relative; control " in line
    assert f"final weights {result['goldyolo']['weights']['model']['relative_l2']:.1e} from the official" in line


def test_data_parity_from_the_committed_run():
    result = tc.read_json(ROOT / "report" / "full" / "data_parity" / "data_parity.json")
    table = tc.data_parity_table(result)
    assert {"boxes per image", "box area (px²)", "gray share (padding)"} <= set(table.index)
    assert (table["z"].abs() < 3).all()  # the committed finding: no quantity differs beyond chance
    shown = tc.paired_text(table, ["goldyolo", "official"])
    assert shown.loc["mean R"].tolist()[:2] == ["114.7", "115.0"]  # one row, one precision
    assert shown.loc["box area (px²)"].tolist()[:2] == ["4,733", "4,747"]
    line = tc.data_parity_line(result)
    assert line.startswith("Both training pipelines without mosaic (the last epochs' phase), 320 px, 9,600 samples "
                           "(12 passes")
    assert line.endswith("; largest |z| 2.23 (box centre y); 1 of 15 measures beyond |z| 1.96, where chance alone "
                         "gives about 0.8 (images without boxes: zero on both sides, not counted)")


def test_warmup_and_long_run_from_the_committed_runs():
    long_run = runs.load_training(ROOT / "report" / "full" / "long_n320")
    assert tc.warmup_length(long_run) == (50, 1000)
    lines = tc.warmup_lines(long_run)
    assert lines[0] == ("50 iterations per epoch; warm-up max(3 epochs, 1,000 iterations) = 1,000 iterations = 20.0 "
                        "of the 100 epochs")
    assert lines[1].startswith("conv-weight learning rate: peak 0.0183 at the end of epoch 19")
    table = tc.long_run_table(long_run)
    assert list(table.index) == list(range(4, 100, 5)) and table.AP.iloc[-1] == pytest.approx(0.0199, abs=1e-4)
    study = runs.load_training(ROOT / "report" / "full" / "train")
    ratio = long_run.history.lr.iloc[0][1] / study.history.lr.iloc[0][1]
    line = tc.recipe_line(long_run, study)
    assert line.startswith("conv-weight learning rate after epoch 0: ")
    assert line.endswith("the same recipe") == (abs(ratio - 1) < 0.01)
    assert tc.recipe_line(study, study).endswith("), so the same recipe")
    fig = plots.schedule_and_ap(long_run.history, 20.0, "long run")
    assert fig.axes[0].get_ylabel() == "learning rate" and fig.axes[1].get_ylabel() == "AP on the test images"


def test_committed_comparison_reads_back_when_present():
    result = tc.read_json(ROOT / "report" / "full" / "compare_train" / "compare.json")
    if result is None:
        pytest.skip("report/full/compare_train is not committed yet")
    assert set(tc.comparison_table(result).index.get_level_values(0)) <= {"goldyolo", "official"}
    assert json.dumps(tc.comparison_lines(result))


def test_bf16_training_against_float32_per_seed_and_the_verdict():
    float32 = comparison()  # goldyolo seed s, epoch 1: iou 1.2, cls 1.81 + 0.002 s, loss 3.01 + 0.002 s
    bf16 = json.loads(json.dumps(comparison()))
    bf16["runs"] = [r for r in bf16["runs"] if r["framework"] == "goldyolo"]
    bf16["config"]["precision"] = "bf16"
    for run in bf16["runs"]:  # bf16 is 0.001 lower in the class loss at epoch 1, 0.01 higher in IoU at epoch 0
        run["epochs"][1]["cls_loss"] -= 0.001
        run["epochs"][0]["iou_loss"] += 0.01
    table = tc.precision_table(bf16, float32)
    assert table.loc["class loss", "bf16 - float32, same seed (mean per seed)"] == "-0.0005, -0.0005"
    assert table.loc["IoU loss", "bf16 - float32, same seed (mean per seed)"] == "+0.0050, +0.0050"
    assert table.loc["class loss", "bf16 lower"] == "2 of 4"
    # 2 epochs: all after the mosaic switch (epochs - 15 < 0)
    assert table.loc["class loss", "without mosaic: bf16 - float32 (per seed)"] == "-0.0005, -0.0005"
    assert table.loc["class loss", "with mosaic: bf16 - float32 (per seed)"] == ""
    assert table.loc["class loss", "float32: seed 0 - seed 1"] == "-0.0010"
    assert table.loc["class loss", "float32 seed spread"] == "0.0020"
    assert table.loc["class loss", "bf16 within float32 mean ± spread"] == "yes"  # 0.001 lower, spread 0.002
    bf16["runs"][0]["epochs"][1]["cls_loss"] -= 0.05  # now far outside
    lines = tc.precision_lines(bf16, float32)
    assert lines[-1] == ("last epoch: bf16's mean within float32's mean ± its seed spread for IoU loss, total loss; "
                         "outside for class loss")
    assert lines[1].startswith("bf16: last AP (epoch 1) 0.0100, 0.0120")
    unfinished = json.loads(json.dumps(bf16))
    for run in unfinished["runs"]:
        run["epochs"] = run["epochs"][:1]
    assert tc.precision_lines(unfinished, float32)[-1].startswith("Not finished")
    later = json.loads(json.dumps(bf16))
    later["runs"][1]["epochs"][-1]["epoch"] = 5  # seeds last evaluated at different epochs: each names its own
    assert tc.precision_lines(later, float32)[1].startswith("bf16: last AP 0.0100 (epoch 1), 0.0120 (epoch 5)")
    assert len(tc.precision_curves(bf16, float32).axes[0].lines) == 6  # 2 + 2 float32 runs, 2 bf16


def test_bf16_inference_in_sentences():
    def spread(median, p99, largest):
        return {"median": median, "p99": p99, "max": largest}
    result = {"config": {"weights": "w.pkl", "img_size": 320, "conf_thres": 0.03}, "num_images": 200,
              "hardware": {"cpu_model": "a CPU"},
              "outputs": {"boxes_px": spread(0.03, 1.2, 9.9), "scores": spread(4e-6, 3e-4, 0.014), "kept_anchors": 1234,
                          "same_best_class": 0.99993, "largest_score": 0.889},
              "coco": {"float32": {"AP": 0.00049, "AP50": 0.00128, "num_detections": 60000},
                       "bf16": {"AP": 0.00050, "AP50": 0.00129, "num_detections": 60000}},
              "coco_difference": {"AP": 1e-5, "AP50": 1e-5}}
    lines = tc.bf16_inference_lines(result)
    assert lines[1] == ("boxes of the 1,234 anchors the evaluation keeps (class score ≥ 0.03): bf16 - float32 "
                        "median 0.03 px, 99th percentile 1.2 px, largest 9.9 px")
    assert lines[2].endswith("the same best class for 99.993% of the kept anchors")
    assert lines[3].startswith("COCO AP float32 0.00049, bf16 0.00050 (+0.000010); AP50")
    assert "median 0.0000040, 99th percentile 0.00030, largest 0.014 (" in lines[2]  # one notation
    assert tc.signed(-4.4e-6) == "-0.0000044" and tc.signed(0.0) == "0"
    assert lines[0] == "one trained model's EMA weights on 200 test images at 320 px, deploy form; a CPU"
    result["config"]["weights"] = "../runs/fork15/seed_0/goldyolo/last.pkl"
    assert tc.bf16_inference_lines(result)[0].startswith(
        "the EMA weights of goldyolo's seed-0 model of a trainer comparison (last checkpoint) on 200 test images")


def test_one_seed_has_no_seed_to_seed_column():
    table = tc.phase_offsets(comparison(seeds=(0,)), stop_aug_last_n_epoch=1)
    assert list(table.columns) == ["goldyolo - official, mean per seed", "goldyolo lower"]


def test_comparisons_on_different_machines_say_so():
    def result(*cpus):
        return {"invocations": [{"hardware": {"cpu_model": cpu}} for cpu in cpus],
                "environment": {"hardware": {"cpu_model": cpus[-1]}}}
    first, later = result("AMD EPYC"), result("Intel Xeon", "Intel Xeon", "AMD EPYC")
    assert tc.run_machines(later) == ["Intel Xeon", "AMD EPYC"]
    assert tc.run_machines({"environment": {"hardware": {"cpu_model": "AMD EPYC"}}}) == ["AMD EPYC"]
    assert tc.machines_note("this one", later, "the first", first) == (
        "this one ran on Intel Xeon and AMD EPYC, the first on AMD EPYC: the machine differs as well, and with it "
        "the rounding of float32 sums")
    assert tc.machines_note("this one", first, "the first", result("AMD EPYC", "AMD EPYC")) == ""
    assert tc.machines_note("this one", first, "the first", None) == ""
