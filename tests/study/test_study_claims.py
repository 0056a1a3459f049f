"""The earlier report's claims beside the measurements (``goldyolo_study.claims``)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from goldyolo_study import claims


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
    stats = {"median": 90.0, "p10": 85.0, "p90": 95.0, "min": 84.0, "max": 97.0}
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
        "real": {"start": 3.23, "end": 0.775, "shuffled_end": 2.1}}))


def test_evidence_is_read_from_the_run_files(tmp_path):
    from goldyolo_study import evidence
    assert evidence.gather(tmp_path, splits=tmp_path) == {}
    write_run(tmp_path)
    found = evidence.gather(tmp_path, splits=tmp_path)
    assert found["train"] == {"epochs": 3, "loss_first": 3.0, "loss_last": 2.25, "AP": 0.003, "AP50": 0.012,
                              "last_eval_epoch": 2, "best_AP": 0.004, "best_AP50": 0.01, "best_epoch": 1,
                              "model": "gold_yolo-n", "img_size": 320}
    assert found["hardware"] == "Test CPU, 2 CPU cores" and found["versions"]["jittor"] == "1.3.11.0"
    assert found["speed"][0]["median ms"] == 90.0 and found["speed"][0]["Jittor / PyTorch"] == 0.99
    assert found["anomaly"]["synthetic"]["start"] == 7.02 and "long" not in found and "compare" not in found

    person = tmp_path / "person_compare"  # one finished run of a one-seed invocation: the verdict needs 2 x 2
    person.mkdir()
    (person / "compare.json").write_text(json.dumps({"config": {"seeds": [0], "epochs": 2},
                                                     "runs": [{"epochs": [0, 1]}], "summary": {}}))
    assert {k: evidence.gather(tmp_path, splits=tmp_path)["person_compare"][k] for k in ("planned", "finished")} == {
        "planned": 4, "finished": 1}


MODELS = {name: SimpleNamespace(params=params, gflops=0.0) for name, params in
          (("gold_yolo-n", 5_622_494), ("gold_yolo-s", 21_542_430), ("gold_yolo-m", 41_329_174),
           ("gold_yolo-l", 75_065_035))}
SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "original_report.md"


@pytest.mark.skipif(not SEED.is_file(), reason="the earlier report is not in ../shared/seed")
def test_every_claim_quotes_the_earlier_report_verbatim():
    from goldyolo_study.seed_claims import SEED_CLAIMS
    text = SEED.read_text(encoding="utf-8")
    for claim in SEED_CLAIMS:
        for fragment in claim.original.split(" … "):
            assert fragment in text, (claim.key, fragment)
    assert len({c.key for c in SEED_CLAIMS}) == len(SEED_CLAIMS) == 25


def test_register_quotes_every_claim_and_judges_it_by_its_rule(tmp_path):
    from goldyolo_study import evidence
    write_run(tmp_path)
    table = claims.register(evidence.gather(tmp_path), MODELS).set_index("claim")
    assert len(table) == 25 and set(table.verdict) <= set(claims.VERDICTS)
    assert set(table.verdict) == set(claims.VERDICTS)  # every verdict is used by some claim

    def row(start):
        return table.loc[next(k for k in table.index if k.startswith(start))]
    params = row("9,344,468 parameters")  # its count against its own configuration; the consequence in one row
    assert params.verdict == "inconsistent within the report" and "43%" in params.why
    implemented = row("the project implemented")
    assert implemented.verdict == "refuted" and "unless its own count is wrong" in implemented.why
    assert "N 5,622,494, S 21,542,430" in row("the project implemented")["measured here"]
    memory = row("4.7 MB of memory")
    assert memory.verdict == "inconsistent within the report" and "35.6 MiB" in memory.why
    assert row("in the first training").verdict == "confirmed"
    assert row("after the fix").verdict == "inconsistent within the report" and "inference" in row("after the fix").why
    assert row("gradient flow is normal").verdict == "inconsistent within the report"
    assert row("the loss fix provides a standard").verdict == "inconsistent within the report"
    assert "varifocal" in row("the loss fix provides a standard").why
    gpu_memory = row("memory management")
    assert gpu_memory.verdict == "not testable here" and gpu_memory["measured here"].endswith("GPU untested")
    speed = row("inference speed")
    assert speed.verdict == "not testable here" and speed["measured here"].endswith("GPU untested")
    assert "0.157 ms" in speed.why  # one figure, not two
    assert row("an in-depth performance comparison").verdict == "inconsistent within the report"
    assert row("the model's performance was verified").verdict == "inconsistent within the report"
    assert row("convergence").verdict == "inconsistent within the report"
    assert row("training time").why.startswith("its two figures agree (30 × 17.6 s = 8.8 min)")
    timed = claims.register({"train": {"epochs": 30, "model": "gold_yolo-n", "img_size": 320, "minutes": 42.04}},
                            MODELS).set_index("key").loc["training_time"]
    assert timed["measured here"].endswith(": 42.0 min in its training loops (as the run recorded them, not a timing)")
    assert row("mean confidence 0.521").verdict == "consistent"
    assert row("mean confidence 0.521").name == ("mean confidence 0.521. In its words: “平均置信度: 0.521” "
                                                 "(Evaluation results)")


def test_a_rule_follows_its_evidence():
    same_size = dict(MODELS, **{"gold_yolo-s": SimpleNamespace(params=9_344_468, gflops=0.0)})
    table = claims.register({}, same_size).set_index("key")
    assert table.loc["param_count"].verdict == "confirmed"
    far = claims.register({"anomaly": {"synthetic": {"mean_class_score": 0.153}}}, MODELS)
    assert far.set_index("key").loc["confidence"].verdict == "not testable here"
    split = {"train": [800, 7500, 2], "test": [200, 1724, 19]}
    dataset = claims.register({"split": split}, MODELS).iloc[1]
    assert dataset.verdict == "consistent" and ("800 images (7,500 annotations: 7,498 boxes and 2 crowd regions) "
                                                "and 200 (1,724 annotations: 1,705 boxes and 19 crowd regions)") in \
        dataset["measured here"]


def test_jit_verdict_from_interleaved_intervals():
    level = {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy", "ratio": 1.02,
             "ci_low": 0.97, "ci_high": 1.06}
    faster = dict(level, ratio=0.8, ci_low=0.75, ci_high=0.86)
    text, verdict = claims._ratio_text({"speed_ab": {"settings": [level, faster]}})
    assert verdict == "refuted" and "1.02 (0.97-1.06)" in text and "0.80 (0.75-0.86)" in text
    assert claims._ratio_text({"speed_ab": {"settings": [faster]}})[1] == "consistent"


def test_no_pytorch_timing_is_not_a_comparison():
    speed = [{"model": "gold_yolo-n", "size": 128, "batch": 1, "form": "deploy", "Jittor / PyTorch": None}]
    assert claims._ratio_text({"speed": speed}) == (claims.NOT_BUILT, "not testable here")


def test_register_without_evidence_says_what_is_missing():
    table = claims.register({}, MODELS)
    assert (table["measured here"] == "not in this build").sum() == 20  # the sizes, config and port need no run
    assert table.verdict.value_counts()["inconsistent within the report"] == 8  # its own numbers, no run needed
