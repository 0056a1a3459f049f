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


def test_claims_table_measurements():
    table = claims.claims_table(MEASURED, HISTORY, S_DEPLOY, "gold_yolo-n", "a test CPU")
    assert table.claim.tolist() == ["6,352.7 FPS", "0.16 ms per image", "4.7 MB memory", "9,344,468 parameters",
                                    "loss 2.48 -> 0.78"]
    assert table["measured here"].tolist() == [
        "11.1 images/s (gold_yolo-n, 640 px, batch 1)",
        "262.4 ms (gold_yolo-s, 640 px, batch 1, p10-p90 260.7-262.6)",
        "537 MiB peak process memory; 82 MiB of float32 weights (S)",
        "21,516,004 (Gold-YOLO-S, deploy form; paper 21.5M)",
        "real loss 3.10 -> 2.29 over 3 epochs (gold_yolo-n)"]
    why = table["why they differ"].tolist()
    assert why[0].startswith("timed with synchronisation on a test CPU; the original timed a 9.3M-parameter")
    assert why[1] == ("Gold-YOLO-S counts 46.1 GFLOPs per 640 px image: 0.16 ms per image would need "
                      "288 TFLOP/s sustained")
    assert why[2] == "the weights alone of Gold-YOLO-S take 82 MiB in float32 (21.5M parameters x 4 bytes)"


def test_claims_without_speed_measurements_show_dashes():
    table = claims.claims_table(pd.DataFrame(), HISTORY, S_DEPLOY, "gold_yolo-n", "cpu")
    assert table["measured here"].tolist()[:3] == ["-", "-", "-"]
