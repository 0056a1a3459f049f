"""The earlier report's claims beside the measurements (``goldyolo.study.claims``)."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from goldyolo.study import claims

S_DEPLOY = SimpleNamespace(params=21_516_004, gflops=46.14)  # model_info of fused Gold-YOLO-S at 640 px


def speed(rows):
    columns = ["model", "size", "batch", "form", "median ms", "p10 ms", "p90 ms", "images/s", "peak RSS MiB"]
    return pd.DataFrame(rows, columns=columns)


MEASURED = speed([["gold_yolo-n", 640, 1, "deploy", 90.1, 84.4, 98.3, 11.1, 367.0],
                  ["gold_yolo-n", 640, 32, "deploy", 3555.6, 3411.8, 4044.6, 9.0, 1501.0],
                  ["gold_yolo-s", 640, 1, "deploy", 262.4, 260.7, 262.6, 3.8, 537.0],
                  ["gold_yolo-n", 320, 8, "train_step", 870.1, 812.9, 883.6, 19.2, 1090.0]])
HISTORY = pd.DataFrame({"loss": [3.102, 2.5, 2.286]})


def test_headline_rows_pick_fastest_forward_and_s_at_batch_1():
    best, bs1 = claims.headline_rows(MEASURED)
    assert (best.model, best.batch) == ("gold_yolo-n", 1)  # the training step's 19.2 images/s does not count
    assert (bs1.model, bs1.batch) == ("gold_yolo-s", 1)
    best, bs1 = claims.headline_rows(MEASURED[MEASURED.model == "gold_yolo-n"])
    assert (bs1.model, bs1["median ms"]) == ("gold_yolo-n", 90.1)
    assert claims.headline_rows(MEASURED[MEASURED.batch == 32])[1] is None
    assert claims.headline_rows(pd.DataFrame()) == (None, None)


def write_run(root):
    """A made-up run folder: 3 training epochs (two evaluated), one bench json, notebook 02's numbers."""
    import json
    (root / "train").mkdir(parents=True)
    epochs = [{"epoch": 0, "loss": 3.0}, {"epoch": 1, "loss": 2.5, "AP": 0.004, "AP50": 0.01},
              {"epoch": 2, "loss": 2.25, "AP": 0.003, "AP50": 0.012}]
    (root / "train" / "metrics.jsonl").write_text("\n".join(json.dumps(e) for e in epochs) + "\n")
    (root / "train" / "config.json").write_text(json.dumps({"model": "gold_yolo-n", "img_size": 320}))
    (root / "bench").mkdir()
    stats = {"median": 90.0, "p10": 85.0, "p90": 95.0}
    measurement = {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy", "stats_ms": stats,
                   "images_per_s": 11.1, "memory": {"peak_rss_kib": 367 * 1024}, "ratio_jittor_over_torch": 0.99,
                   "torch": {"stats_ms": {"median": 91.0}}}
    (root / "bench" / "gold_yolo-n_640.json").write_text(json.dumps(
        {"measurements": [measurement], "hardware": {"cpu_model": "Test CPU", "cpu_cores_usable": 2, "gpus": []},
         "versions": {"jittor": "1.3.11.0", "python": "3.11.7"}}))
    (root / "anomaly").mkdir()
    (root / "anomaly" / "anomaly.json").write_text(json.dumps({
        "fixed": {"start": 0.94, "end": 0.0014, "same_with_shuffled": True},
        "synthetic": {"start": 7.02, "end": 0.75, "reg": 0.0, "same_with_shuffled": True, "mean_class_score": 0.5},
        "real": {"start": 3.23, "end": 0.775}}))


def test_evidence_is_read_from_the_run_files(tmp_path):
    from goldyolo.study import evidence
    assert evidence.gather(tmp_path) == {}
    write_run(tmp_path)
    found = evidence.gather(tmp_path)
    assert found["train"] == {"epochs": 3, "loss_first": 3.0, "loss_last": 2.25, "AP": 0.003, "AP50": 0.012,
                              "last_eval_epoch": 2, "best_AP": 0.004, "best_AP50": 0.01, "best_epoch": 1,
                              "model": "gold_yolo-n", "img_size": 320}
    assert found["hardware"] == "Test CPU, 2 CPU cores" and found["versions"]["jittor"] == "1.3.11.0"
    assert found["speed"][0]["median ms"] == 90.0 and found["speed"][0]["Jittor / PyTorch"] == 0.99
    assert found["anomaly"]["synthetic"]["start"] == 7.02 and "long" not in found and "compare" not in found


def test_register_covers_every_claim_with_a_verdict(tmp_path):
    from goldyolo.study import evidence
    write_run(tmp_path)
    table = claims.register(evidence.gather(tmp_path), S_DEPLOY)
    assert len(table) == 13 and set(table.verdict) == {"refuted", "consistent", "untestable here"}
    text = " ".join(table.claim)
    for claimed in ("6,352.7 FPS", "0.16 ms", "4.7 MB", "9,344,468", "9,325,780", "0.85 -> 0.01", "2.48 -> 0.78",
                    "gradient forcing term", "coord 5", "0.521", "8.8 min", "RTX 4060", "standard test set",
                    "JIT", "edge devices", "1.3.9.14", "CUDA 12.2", "Python 3.7"):
        assert claimed in text, claimed
    measured = dict(zip(table.claim, table["measured here"]))
    assert measured["6,352.7 FPS"] == "11.1 images/s at most (gold_yolo-n, 640 px, batch 1; Test CPU, 2 CPU cores)"
    assert measured["loss 0.85 -> 0.01: the model learns"].startswith("a fixed-target rebuild: 0.94 -> 0.001")
    assert "reg 0.000" in measured["'fixed' loss 2.48 -> 0.78 (reg 0.000, cls 0.684, obj 0.070, noobj 0.025)"]
    assert measured["mean confidence 0.521"].startswith("0.500")
    assert measured["verified on the standard test set (no AP given)"].startswith("AP 0.0030, AP50 0.0120")
    assert measured["suitable for edge devices"] == "90 ms per 640 px image for Gold-YOLO-N on Test CPU, 2 CPU cores"
    assert measured["environment: Jittor 1.3.9.14, CUDA 12.2, Python 3.7"].startswith("Jittor 1.3.11.0, Python 3.11.7")
    jit = table[table.claim == "a performance advantage from Jittor's JIT"].iloc[0]
    assert "one run each (not interleaved)" in jit["measured here"] and jit.verdict == "untestable here"


def test_jit_verdict_from_interleaved_intervals():
    level = {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy", "ratio": 1.02,
             "ci_low": 0.97, "ci_high": 1.06}
    faster = dict(level, ratio=0.8, ci_low=0.75, ci_high=0.86)
    text, verdict = claims._ratio_text({"speed_ab": {"settings": [level, faster]}})
    assert verdict == "refuted" and "1.02 (0.97-1.06)" in text and "0.80 (0.75-0.86)" in text
    assert claims._ratio_text({"speed_ab": {"settings": [faster]}})[1] == "consistent"


def test_mean_confidence_verdict_follows_the_rebuilt_score():
    def verdict(score):
        evidence = {"anomaly": {"synthetic": {"mean_class_score": score}}}
        table = claims.register(evidence, S_DEPLOY)
        return table[table.claim == "mean confidence 0.521"].iloc[0].verdict
    assert verdict(0.52) == "consistent" and verdict(0.153) == "untestable here"


def test_no_pytorch_timing_is_not_a_comparison():
    speed = [{"model": "gold_yolo-n", "size": 128, "batch": 1, "form": "deploy", "Jittor / PyTorch": None}]
    assert claims._ratio_text({"speed": speed}) == (claims.NOT_BUILT, "untestable here")


def test_register_without_evidence_says_what_is_missing():
    table = claims.register({}, S_DEPLOY)
    assert (table["measured here"] == "not in this build").sum() == 11  # the model sizes need no run
