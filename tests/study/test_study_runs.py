"""Run records read back for notebooks 03 and 04 (``goldyolo_study.runs``)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from goldyolo_study import runs

from conftest import ROOT


def write_run(folder: Path, epochs_logged: int, epochs: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {"model": "gold_yolo-n", "img_size": 128, "batch_size": 8, "seed": 0, "device": "cpu", "epochs": epochs}
    (folder / "config.json").write_text(json.dumps(config))
    rows = [{"epoch": e, "loss": 3.0 - e, "iou_loss": 1.0, "dfl_loss": 0.0, "cls_loss": 2.0 - e,
             "AP": [0.01, 0.03, 0.02][e], "AP50": [0.02, 0.05, 0.04][e], "time_s": 60.0 * (e + 1),
             "images_per_s": 2.0 * (e + 1), "skipped_steps": e, "lr": [0.1, 0.1, 0.2]} for e in range(epochs_logged)]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(row) for row in rows))
    (folder / "data_report.json").write_text(json.dumps({"counts": {"crowd_box_ignored": 2}}))
    return folder


def test_finished_run_lines(tmp_path):
    run = runs.load_training(write_run(tmp_path / "train", 3))
    assert run.epochs_done == 3 and len(run.history) == 3 and run.data_check == {"crowd_box_ignored": 2}
    assert runs.training_lines(run, "a CPU") == [
        "gold_yolo-n at 128 px, batch 8, seed 0, on the CPU; 3 of 3 epochs done",
        "data check of the training images: 2 crowd boxes ignored",
        "this notebook executed on: a CPU",
        "training time: 6.0 min in the training loops; median epoch 120 s (4.0 images/s), slowest 180 s (the first "
        "epoch of a process compiles Jittor's kernels); the run's own clock, not a timing: other work may have shared "
        "its cores"]
    assert runs.final_line(run) == ("loss 3.000 (epoch 0) -> 1.000 (epoch 2); highest AP 0.0300 at epoch 1 (AP50 "
                                    "there 0.0500); skipped non-finite steps: 2")


def test_data_check_in_words():
    from goldyolo.data.coco import DataReport, counts_in_words
    assert counts_in_words({"crowd_box_ignored": 2, "converted_grayscale": 4}) == (
        "converted grayscale: 4, crowd box ignored: 2")
    assert counts_in_words({}) == "nothing skipped"
    report = DataReport()
    report.add("crowd_box_ignored", "a.jpg: crowd")
    assert report.in_words() == "crowd box ignored: 1"


def test_unfinished_run_says_so(tmp_path):
    run = runs.load_training(write_run(tmp_path / "train", 1, epochs=5))
    lines = runs.training_lines(run, "x")
    assert lines[0].endswith("1 of 5 epochs done")
    assert lines[-1] == "The run is not finished: 4 epochs remain; the same command continues it."


def test_missing_run_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no training run in .*train: run the command above"):
        runs.load_training(tmp_path / "train")


def test_protocol_estimate_scales_time_by_gflops(tmp_path):
    run = runs.load_training(write_run(tmp_path / "train", 3, epochs=30))
    # 120 s per epoch x (50 / 5) x 30 epochs = 10 h
    assert runs.protocol_estimate(run, 5.0, 50.0) == pytest.approx(10.0)


def test_trained_weights_prefer_best(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained model in"):
        runs.trained_weights(tmp_path)
    (tmp_path / "last.pkl").write_bytes(b"")
    assert runs.trained_weights(tmp_path) == tmp_path / "last.pkl"
    (tmp_path / "best.pkl").write_bytes(b"")
    assert runs.trained_weights(tmp_path) == tmp_path / "best.pkl"


def test_overfit_and_soak_lines():
    summary = {"final": {"AP50": 0.9184, "AP": 0.9, "loss": 0.25}, "config": {"epochs": 400}, "wall_time_s": 1182.0}
    assert runs.overfit_line(summary) == ("after 400 epochs: AP50 0.918, AP 0.900, training loss 0.250; 19.7 min of "
                                          "wall time by its own clock")
    soak = {"config": {"model": "gold_yolo-n", "img_size": 320, "batch_size": 4}, "iterations": 2000, "cpu": "EPYC",
            "summary": {"rss_start_mib": 363.8, "rss_after_warmup_mib": 776.6, "warmup_iterations": 500,
                        "rss_end_mib": 773.5, "rss_max_mib": 781.3, "rss_slope_mib_per_1000_iterations": 0.137,
                        "live_vars_after_warmup": [2456, 2456], "flat": False,
                        "tolerance_mib_per_1000_iterations": 10.0}}
    assert runs.soak_line(soak) == ("gold_yolo-n, 320 px, batch 4, 2,000 iterations on EPYC: RSS 364 MiB at the "
                                    "start, 777 after 500 iterations, 774 at the end (max 781); after the warm-up "
                                    "+0.1 MiB per 1,000 iterations; live Jittor variables 2,456 at every sample; "
                                    "above the tolerance of 10 MiB per 1,000 iterations: memory grows")
    soak["summary"]["flat"] = True
    assert runs.soak_line(soak).endswith("; below the tolerance of 10 MiB per 1,000 iterations")


def stdout_of(notebook: str, starts: str) -> str:
    """The printed output of the notebook's code cell whose source starts with ``starts``."""
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    cell = next(c for c in cells if c.cell_type == "code" and c.source.startswith(starts))
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_committed_records_give_the_committed_notebook_text():
    """The full build writes report/ and the notebooks' outputs together: these must agree."""
    training = runs.load_training(ROOT / "report" / "full" / "train")
    shown = stdout_of("03_training.ipynb", "from pathlib import Path").splitlines()[:-1]  # before the origin line
    assert shown[:2] + shown[3:] == [line for i, line in enumerate(runs.training_lines(training, "")) if i != 2]
    assert stdout_of("03_training.ipynb", "print(runs.final_line(") == runs.final_line(training) + "\n"
    overfit = json.loads((ROOT / "report" / "full" / "overfit" / "summary.json").read_text())
    assert stdout_of("04_evaluation.ipynb", "overfit = Path(").splitlines()[0] == runs.overfit_line(overfit)
    soak = json.loads((ROOT / "report" / "full" / "soak" / "soak.json").read_text())
    assert stdout_of("04_evaluation.ipynb", "soak_file = ").splitlines()[0] == runs.soak_line(soak)


def test_overfit_overlap_names_the_test_images_it_trained_on(tmp_path):
    import json

    from goldyolo.data import CocoSource

    from conftest import SAMPLE
    used = CocoSource(SAMPLE / "train.json", SAMPLE / "images").records[:3]
    summary = {"config": {"data": str(SAMPLE / "train.json"), "images": str(SAMPLE / "images"), "subset": 3}}
    test = {"images": [{"id": used[1].image_id}, {"id": 10**9}]}
    (tmp_path / "test.json").write_text(json.dumps(test))
    assert runs.overfit_overlap(summary, tmp_path / "test.json") == [used[1].image_id]
    test["images"] = [{"id": 10**9}]
    (tmp_path / "test.json").write_text(json.dumps(test))
    assert runs.overfit_overlap(summary, tmp_path / "test.json") == []


def _eval_parity(ap50_square: float) -> dict:
    def mode(ap, ap50, matched):
        return {"official": {"AP": ap, "AP50": ap50}, "goldyolo": {"AP": ap, "AP50": ap50},
                "input_shapes": {"images": 200, "equal": 200},
                "detections": {"official": 60000, "goldyolo": 60000, "matched": matched,
                               "largest_box_difference_px": 0.002, "largest_score_difference": 1e-5}}
    return {"config": {"model": "gold_yolo-n", "weights": "OUTSIDE/w.npz", "data": "data/splits/test.json",
                       "img_size": 640, "batch_size": 32},
            "environment": {"date": "2026-12-02T22:42:34", "hardware": {"cpu_model": "AMD EPYC"}},
            "modes": {"square": mode(4e-6, ap50_square, 59991), "rect": mode(3e-6, 2e-5, 60000)}}


def test_eval_parity_table_and_the_ap_level_it_speaks_to():
    result = _eval_parity(2.6e-5)
    table = runs.eval_parity_table(result)
    assert table["mode"].tolist() == ["square", "rect"]
    assert table["official AP"].tolist() == ["4e-06", "3e-06"]
    assert table["detections matched"].tolist() == ["59,991 of 60,000", "60,000 of 60,000"]
    assert table["input shapes equal"].tolist() == ["200 of 200"] * 2
    lines = runs.eval_parity_lines(result)
    assert lines[0] == ("the same Gold-YOLO-N weights in both evaluators, on 200 test images at 640 px, batch 32; "
                        "AMD EPYC, 2026-12-02")
    assert lines[1].startswith("these weights reach AP50 2.6e-05 at most: at that level an equal AP says little")
    assert "from 4e-06 (square) to 3e-06 (rect, aspect-ratio batches; x0.75)" in lines[2]
    assert lines[2].endswith("part of the gap can be their mode; none of it is their evaluator, and what else "
                             "differs (their ground truth) was not measured on these weights")
    assert runs.eval_parity_lines(result, rebuilt_truth=True)[2].endswith(
        "part of the gap is their mode, the rest their ground truth (below), none of it their evaluator")
    detecting = runs.eval_parity_lines(_eval_parity(0.41))
    assert detecting[1].startswith("these weights reach AP50 0.4100 (the highest of the modes): the AP agreement "
                                   "speaks")


def test_the_ground_truth_alone_is_put_in_numbers():
    same, rebuilt = _eval_parity(0.25), _eval_parity(0.25)
    rebuilt["modes"]["square"]["official"] = {"AP": 0.1059, "AP50": 0.2376}
    del rebuilt["modes"]["rect"]
    lines = runs.ground_truth_lines(same, rebuilt)
    assert lines[0].startswith("the official evaluator scored against the boxes it rebuilds from the label files")
    assert lines[0].endswith("matched one to one with goldyolo's as above (square 59,991 of 60,000): square: AP "
                             "0.0000 -> 0.1059, AP50 0.2500 -> 0.2376")
    assert "no crowd regions" in lines[1] and "by mode and ground truth, not by evaluator" in lines[1]
    assert runs.ground_truth_lines(same, {"modes": {}}) == []
    rebuilt["modes"]["rect"] = {"official": {"AP": 0.1086, "AP50": 0.2547}}
    lines = runs.ground_truth_lines(same, rebuilt, trainer_ap=0.1052)
    assert lines[-1].startswith("the official trainer's own AP of these weights, from its evaluation during "
                                "training, is 0.1052; the official evaluation script in rect mode on the same rebuilt "
                                "boxes gives 0.1086, so -0.0034 is neither mode nor ground truth. Not measured here")
    assert len(runs.ground_truth_lines(same, rebuilt)) == 2  # without the trainer's AP, no residual
    trainer = {"config": {"img_size": 320}, "modes": {"trainer": {
        "official": {"AP": 0.1052}, "goldyolo": {"AP": 0.1089}, "input_shapes": {"equal": 200, "images": 200},
        "detections": {"matched": 58389, "official": 58391}}}}
    same["modes"]["square"]["goldyolo"] = {"AP": 0.1093, "AP50": 0.2475}
    measured = runs.ground_truth_lines(same, rebuilt, trainer_ap=0.1052, trainer_mode=trainer)[-1]
    assert "the official evaluator gives 0.1052 on the rebuilt boxes: the trainer's own AP (0.1052)" in measured
    assert ("58,389 of 58,391 detections matched) gives 0.1089 against the json. So from the trainer's evaluation "
            "to goldyolo's square evaluation (0.1093): ground truth +0.0037, then batches and load size +0.0004"
            ) in measured
    assert "Not measured" not in measured
    # weights the official trainer did not make: its evaluation is measured all the same, without its own AP
    other = runs.ground_truth_lines(same, rebuilt, trainer_mode=trainer)[-1]
    assert ("gives 0.1052 on the rebuilt boxes (what the official trainer would log for these weights; they were "
            "not trained by it)") in other and "trainer's own AP" not in other


def test_epoch_table_leaves_out_what_is_zero_at_every_epoch():
    history = pd.DataFrame({"epoch": [0, 1], "loss": [3.0, 2.5], "iou_loss": [1.5, 1.2], "dfl_loss": [0.0, 0.0],
                            "cls_loss": [1.5, 1.3], "AP50": [0.0, 0.01], "AP": [0.0, 0.004], "time_s": [60, 61],
                            "skipped_steps": [0, 0]})
    run = runs.TrainingRun({"model": "gold_yolo-n"}, history, {})
    table, constant = runs.epoch_table(run)
    assert list(table.columns) == ["loss", "iou_loss", "cls_loss", "AP50", "AP", "time_s"]
    assert constant == ["dfl_loss: 0 at every epoch (gold_yolo-n trains without DFL, as in the official "
                        "configuration)", "skipped_steps: 0 at every epoch (no non-finite step)"]
    history.loc[1, "skipped_steps"] = 1
    table, constant = runs.epoch_table(runs.TrainingRun({"model": "gold_yolo-s"}, history, {}))
    assert "skipped_steps" in table and constant == ["dfl_loss: 0 at every epoch"]
