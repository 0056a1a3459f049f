"""The summary and conclusion pages (``goldyolo_study.summary``): every sentence from the evidence."""
from __future__ import annotations

import json
from types import SimpleNamespace

from goldyolo_study import claims, summary

S_DEPLOY = SimpleNamespace(params=21_516_004, gflops=46.14)
MODELS = {"gold_yolo-n": SimpleNamespace(params=5_622_494, gflops=12.1), "gold_yolo-s": S_DEPLOY}
TRAIN = {"epochs": 30, "model": "gold_yolo-n", "img_size": 320, "AP": 0.0013, "AP50": 0.0043, "best_AP": 0.0019,
         "best_AP50": 0.0048, "best_epoch": 24}
COMPARE = {"goldyolo": {"seeds": [0, 1], "mean_AP": 0.0004, "spread_AP": 0.0002},
           "official": {"seeds": [0, 1], "mean_AP": 0.0003, "spread_AP": 0.0003},
           "difference_AP": {"goldyolo_minus_official": 0.0001, "largest_seed_spread": 0.0003,
                             "exceeds_seed_spread": False}}
AB = {"settings": [{"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy", "ratio": 1.02,
                    "ci_low": 0.98, "ci_high": 1.05}]}


def test_headline_table_from_evidence():
    table = summary.headline_table({"train": TRAIN, "compare": COMPARE, "speed_ab": AB}, S_DEPLOY)
    measured = dict(zip(table.result, table["measured here"]))
    assert measured["Gold-YOLO-S, deploy form"] == "21.52M parameters, 46.14 GFLOPs at 640 px"
    assert measured["Trained here"] == ("Gold-YOLO-N at 320 px, 30 epochs: last AP 0.0013, AP50 0.0043 "
                                        "(best AP 0.0019, AP50 0.0048, epoch 24)")
    assert measured["Trained longer"] == "not in this build"
    last_is_best = dict(TRAIN, best_AP=TRAIN["AP"], best_AP50=TRAIN["AP50"], best_epoch=29)
    assert summary.headline_table({"train": last_is_best}, S_DEPLOY).set_index("result")["measured here"][
        "Trained here"].endswith("last AP 0.0013, AP50 0.0043 (also its best evaluated epoch)")
    long = dict(TRAIN, epochs=100, config={"model": "gold_yolo-n", "img_size": 320})
    assert summary.headline_table({"long": long}, S_DEPLOY).set_index("result")["measured here"][
        "Trained longer"] == ("Gold-YOLO-N at 320 px, 100 epochs: last AP 0.0013, AP50 0.0043 (best AP 0.0019, "
                              "AP50 0.0048, epoch 24)")
    outside = dict(COMPARE, difference_cls_loss={"exceeds_seed_spread": True},
                   difference_loss={"exceeds_seed_spread": False})
    assert summary.compare_text(outside).endswith(
        "the difference is within the seed-to-seed spread; at the last epoch the class loss differs by more than it")
    assert measured["Beside the official trainer"] == (
        "goldyolo: AP 0.0004 (spread 0.0002) over seeds 0, 1; official: AP 0.0003 (spread 0.0003) over seeds 0, 1; "
        "the difference is within the seed-to-seed spread")
    assert measured["Speed, Jittor / PyTorch time"] == ("Gold-YOLO-N 640 px batch 1 deploy: 1.02 (95% 0.98–1.05, "
                                                         "level (within noise))")
    assert "commit" not in table.columns  # without the record folders


def test_headline_rows_name_the_commits_of_their_runs(tmp_path):
    (tmp_path / "parity").mkdir()
    (tmp_path / "parity" / "parity.json").write_text(json.dumps({"versions": {"git_commit": "a" * 40 + "-dirty"}}))
    own = tmp_path / "own"
    (own / "train").mkdir(parents=True)
    (own / "train" / "invocations.jsonl").write_text(json.dumps({"versions": {"git_commit": "b" * 40}}) + "\n")
    table = summary.headline_table({}, S_DEPLOY, str(tmp_path), str(own)).set_index("result")["commit"]
    assert table["Outputs equal to the official model's"] == "aaaaaaa+"
    assert table["Trained here"] == "bbbbbbb" and table["Gold-YOLO-S, deploy form"] == "this build"
    assert table["Trained longer"] == "-"  # no record
    speed = tmp_path / "speed_ab"  # a row names only the records it reads, not every file beside them
    speed.mkdir()
    for name, commit in (("speed_ab.json", "c"), ("cpu_options.json", "d"), ("cpu_options_train.json", "e")):
        (speed / name).write_text(json.dumps({"versions": {"git_commit": commit * 40}}))
    table = summary.headline_table({}, S_DEPLOY, str(tmp_path), str(own)).set_index("result")["commit"]
    assert table["Speed, Jittor / PyTorch time"] == "ccccccc"
    assert table["Every CPU option, time / PyTorch eager float32"] == "ddddddd, eeeeeee"


def test_unfinished_comparison_and_single_run_speed_are_said_as_such():
    compare = {"official": dict(COMPARE["official"], seeds=[0])}
    assert summary.compare_text(compare).endswith("not all seeds finished yet")
    speed = [{"model": "gold_yolo-n", "size": 640, "batch": 1, "form": "deploy", "Jittor / PyTorch": 0.73},
             {"model": "gold_yolo-n", "size": 640, "batch": 8, "form": "deploy", "Jittor / PyTorch": float("nan")}]
    assert summary.speed_text({"speed": speed}) == ("one run each, not interleaved: "
                                                    "gold_yolo-n 640 px batch 1 deploy: 0.73")


STRONG = dict(COMPARE, goldyolo=dict(COMPARE["goldyolo"], mean_AP=0.21), official=dict(COMPARE["official"],
                                                                                       mean_AP=0.2))


def test_conclusion_sorts_findings_by_the_evidence():
    evidence = {"train": dict(TRAIN, lr_first=0.00049), "long": dict(TRAIN, epochs=100, AP=0.0199, lr_first=0.00098),
                "compare": STRONG,
                "step_parity": {"steps": 60, "model": "gold_yolo-n", "warmup_steps": 12, "lr_scale": 0.02,
                                "goldyolo": {"loss_max": 5.5e-3, "weights_rel_l2": 3.9e-3},
                                "control": {"loss_max": 5.4e-3, "weights_rel_l2": 3.8e-3}}}
    lines = summary.conclusion_lines(evidence, claims.register(evidence, MODELS))
    text = "\n".join(lines)
    held = text[text.index("What held"):text.index("What did not")]
    assert "over 60 steps" in held and "less than the largest seed-to-seed spread (0.0003)" in held
    assert "12 of them warm-up, at learning rates ×0.02 on both sides" in held
    assert "AP 0.0013 after 30 epochs and 0.0199 after 100 (at 2 times the study run's learning rate" in text
    assert "The 100-epoch run again with the study run's" in text[text.index("What is left"):]
    same = dict(evidence, long=dict(evidence["long"], lr_first=0.00049))
    text = "\n".join(summary.conclusion_lines(same, claims.register(same, MODELS)))
    assert "0.0199 after 100: far from" in text and "run again" not in text
    table = summary.headline_table(evidence, S_DEPLOY).set_index("result")["where"]
    assert table["Trained longer"] == ("03: the long run (at 2 times the study run's learning rate: an earlier "
                                       "trainer's recipe, which did not scale the learning rate to the batch as the "
                                       "official one does)")
    assert summary.headline_table(same, S_DEPLOY).set_index("result")["where"]["Trained longer"] == "03: the long run"
    assert "GPU" in text[text.index("What is left"):]
    assert text.startswith("Of the earlier report's 25 claims (summary page): ")  # a finding of neither kind
    assert "Too weak" not in text
    loss = {"goldyolo_minus_official": -0.012, "largest_seed_spread": 0.02, "exceeds_seed_spread": False}
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare=dict(STRONG, difference_loss=loss)),
                                                  claims.register({}, MODELS)))
    assert "training loss differs by -0.012, less than the largest seed-to-seed spread (0.020)" in text
    exceeded = dict(STRONG, difference_AP=dict(COMPARE["difference_AP"], exceeds_seed_spread=True))
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare=exceeded), claims.register({}, MODELS)))
    assert "more than the largest" in text[text.index("What did not"):text.index("What is left")]
    parts = dict(STRONG, goldyolo={"seeds": [0, 1], "mean_AP": 0.21},
                 difference_iou_loss={"goldyolo_minus_official": -0.023, "largest_seed_spread": 0.018,
                                      "exceeds_seed_spread": True},
                 difference_cls_loss={"goldyolo_minus_official": 0.004, "largest_seed_spread": 0.012,
                                      "exceeds_seed_spread": False})
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare=parts), claims.register({}, MODELS)))
    failed = text[text.index("What did not"):text.index("What is left")]
    assert "IoU loss -0.0230 against a spread of 0.0180 lies outside the seed spread at the last epoch" in failed
    assert "class loss" not in failed and "with 2 seeds per trainer the spread itself is one draw" in failed

    def diff(value, spread):
        return {"goldyolo_minus_official": value, "largest_seed_spread": spread,
                "exceeds_seed_spread": abs(value) > spread}
    fork = {"goldyolo": {"seeds": [0, 1]}, "official": {"mean_AP": 0.00051},
            "difference_iou_loss": diff(0.00645, 0.00703),
            "difference_cls_loss": diff(-0.0113, 0.0105), "difference_AP50": diff(-0.000872, 0.000283)}
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare_fork=fork), claims.register({}, MODELS)))
    weak = text[text.index("Too weak to decide (both trainers below AP 0.01"):text.index("What is left")]
    assert ("2 seeds each, last epoch, goldyolo minus official: inside the larger seed-to-seed spread: IoU loss "
            "+0.00645 against 0.00703; outside it: class loss -0.0113 against 0.0105, AP50 -0.000872 against "
            "0.000283 (notebook 03; at a mean AP of 0.0005") in weak  # the body's numbers, both sides of the spread
    strong = dict(fork, official={"mean_AP": 0.2})
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare_fork=strong), claims.register({}, MODELS)))
    assert "from one common state" in text[text.index("What did not"):text.index("What is left")]
    inside = dict(strong, difference_cls_loss=diff(-0.001, 0.0105), difference_AP50=diff(0.0001, 0.000283))
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare_fork=inside), claims.register({}, MODELS)))
    assert "from one common state" in text[text.index("What held"):text.index("What did not")]
    # runs that end near AP 0 decide nothing, inside the spread or not
    text = "\n".join(summary.conclusion_lines(dict(evidence, compare=COMPARE), claims.register({}, MODELS)))
    assert "final AP differ by +0.0001, less than" in text[text.index("Too weak"):text.index("What is left")]


def test_commands_cover_each_part():
    parts = summary.commands_table().part.tolist()
    assert any("03" in p for p in parts) and any("speed" in p for p in parts) and parts[-1] == "whole report"


def test_commands_are_the_ones_that_made_the_numbers():
    ab = {"config": {"settings": "gold_yolo-n:640:1:deploy,gold_yolo-s:640:1:deploy", "runs": 20, "warmup": 3,
                     "invocations": 3, "device": "cpu"}}
    table = summary.commands_table({"speed_ab": ab}).set_index("part").command
    assert table["speed, interleaved (04)"] == (
        "python -m goldyolo speed-ab --torch-reference PATH --settings "
        "gold_yolo-n:640:1:deploy,gold_yolo-s:640:1:deploy --runs 20 --warmup 3 --invocations 3 "
        "--out report/full/speed_ab/speed_ab.json")
    train = table["training (03)"]
    assert train.startswith("python -m goldyolo train --model gold_yolo-n ") and "--seed 0" in train
    assert "--epochs 30" in train and "--val-images" in train and train.endswith("--out report/full/train")
    assert summary.commands_table()["command"].str.len().min() > 0
    options = {"cpu_options_files": {"cpu_options_train.json": {"config": {
        "settings": "gold_yolo-n:320:8:train_step", "runs": 20, "warmup": 3, "invocations": 3,
        "variants": "jittor-bf16,torch-bf16"}}}}
    assert summary.commands_table(options).set_index("part").command["every CPU option (04)"] == (
        "python -m goldyolo speed-ab --torch-reference PATH --settings gold_yolo-n:320:8:train_step --runs 20 "
        "--warmup 3 --invocations 3 --variants jittor-bf16,torch-bf16 --out "
        "report/full/speed_ab/cpu_options_train.json")
    assert not summary.commands_table().command.str.contains("README").any()  # every command in the table itself
    long = {"config": {"model": "gold_yolo-n", "data": "data/splits/train.json", "img_size": 320, "epochs": 100,
                       "eval_interval": 5, "out": "OUTSIDE/long", "workers": 0}, "origin": "commit abc1234"}
    assert summary.commands_table({"long": long}).set_index("part").command["a longer run (03)"] == (
        "python -m goldyolo train --model gold_yolo-n --data data/splits/train.json --img-size 320 --epochs 100 "
        "--eval-interval 5 --out RUN_DIR; it ran at commit abc1234")
    bench = summary.commands_table().set_index("part").command["benchmark (04)"].split("; ")
    assert len(bench) == 3 and bench[0].startswith("python -m goldyolo bench --model gold_yolo-n --img-size 640 ")
    assert bench[-1].endswith("--out report/full/bench/gold_yolo-n_320_train.json --train-step --profile-ops")


def test_parity_row_reports_the_worst_size():
    parity = {"n": {"deploy_box_px": 1e-3, "deploy_score": 1e-6, "train_cls_vs_official": 2e-5,
                    "train_reg_vs_official": 1e-4},
              "l": {"deploy_box_px": 4e-3, "deploy_score": 3e-6, "train_cls_vs_official": 1e-4,
                    "train_reg_vs_official": 1e-3}}
    assert summary.parity_text(parity) == ("N, L on the same weights: deploy boxes within 4.0e-03 px, scores "
                                           "3.0e-06; training-mode outputs 1.0e-04 (class) and 1.0e-03 (box)")
    assert summary.parity_text({}) == "not in this build"


def test_eval_parity_text_states_modes_aps_shapes_and_detections_in_one_clause():
    def entry(ap, matched):
        return {"official": {"AP": ap}, "goldyolo": {"AP": ap}, "input_shapes": {"images": 200, "equal": 200},
                "detections": {"official": 60000, "goldyolo": 60000, "matched": matched,
                               "largest_box_difference_px": 0.0021, "largest_score_difference": 1.2e-5}}
    assert summary.eval_parity_text({"square": entry(3.9e-6, 59991), "rect": entry(3.2e-6, 60000)}) == (
        "in each of its modes (square, rect) the same AP in both (3.9e-06, 3.2e-06), every input shape equal and "
        "119,991 of 120,000 detections matched within 0.002 px and 1e-05 in score (over the 2 modes)")
    assert summary.eval_parity_text({"rect": {"official": {"AP": 0.1}, "goldyolo": {"AP": 0.1}}}) == \
        "in each of its modes (rect) the same AP in both (0.1000)"
    assert summary.eval_parity_text({"rect": {"official": {"AP": 0.1}, "goldyolo": {"AP": 0.009}}}) == \
        "in its modes (rect) AP 1.0e-01 vs 9.0e-03 (official vs goldyolo)"
    uneven = entry(0.11, 59285)
    uneven["input_shapes"]["equal"] = 199
    assert ", 199 of 200 input shapes equal and 59,285 of 60,000" in summary.eval_parity_text({"square": uneven})


def test_every_cpu_option_in_one_sentence():
    def variant(description, ratio, ms):
        return {"description": description, "ratio_to_torch": ratio, "median_ms": ms}
    setting = {"model": "gold_yolo-n", "img_size": 640, "batch": 1, "mode": "deploy",
               "variants": {"jittor": variant("goldyolo f32", 0.7, 40.0),
                            "jittor-bf16": variant("goldyolo bf16", 0.35, 20.0), "torch": variant("PyTorch", 1.0, 60.0),
                            "ort": variant("ONNX Runtime", 0.6, 36.0),
                            "torch-bf16-cl": variant("PyTorch bf16 cl", 0.45, 27.0)}}
    train = {"model": "gold_yolo-n", "img_size": 320, "batch": 8, "mode": "train_step",
             "variants": {"jittor": variant("goldyolo f32", 0.95, 570.0), "torch": variant("PyTorch", 1.0, 600.0)}}
    text = summary.cpu_options_text({"cpu_options": {"settings": [setting, train]}})
    assert text == ("over 2 settings (notebook 04 gives each): goldyolo float32 0.70–0.95, goldyolo bf16 0.35, "
                    "the fastest other option (PyTorch bf16 cl) 0.45")
    assert summary.cpu_options_text({}) == "not in this build"


def test_reproduction_cost_from_the_measured_training_step():
    def variant(ms):
        return {"description": "x", "ratio_to_torch": 1.0, "median_ms": ms}
    step = {"model": "gold_yolo-n", "img_size": 320, "batch": 16, "mode": "train_step",
            "variants": {"jittor": variant(1600.0), "jittor-bf16": variant(800.0), "torch": variant(1600.0)}}
    found = {"cpu_options": {"hardware": {"cpu_model": "a CPU", "cpu_cores_usable": 2}, "settings": [step]}}
    lines = summary.reproduction_lines(found, {"gold_yolo-n": 12.0, "gold_yolo-s": 48.0})
    assert "71 million training images" in lines[0]  # 118,287 x 300 x 2
    assert lines[1].endswith("100 ms per image (goldyolo float32), 50 ms per image (goldyolo bf16), 100 ms per "
                             "image (PyTorch float32).")
    # 70,972,200 images x 0.1 s x 4 (640 px) / 86,400 s = 328.6 days; S: x4 more
    assert "about 329 days (goldyolo float32), 164 days (goldyolo bf16)" in lines[2]
    assert "about 1,314 days (goldyolo float32)" in lines[3] and "GFLOPs (48.0 against 12.0)" in lines[3]
    assert summary.reproduction_lines({}, {"gold_yolo-n": 12.0}) == ["not in this build"]
    commands = summary.official_weights_commands()
    assert summary.OFFICIAL_WEIGHTS_URL in commands.step[0]  # where the checkpoint comes from
    assert commands.command[1].endswith("--model gold_yolo-s --data annotations/instances_val2017.json "
                                        "--images val2017 --reproduce-640-eval")


def test_the_person_comparison_in_the_conclusion():
    held, failed, left = [], [], []
    summary.person_compare_lines({"epochs": 150, "planned": 4, "finished": 1}, held, failed, left)
    assert left == ["Both trainers on the person task: 1 of its 4 runs finished (notebook 03 shows them); the "
                    "verdict needs two seeds of each."] and not held and not failed
    person = {"epochs": 150, "planned": 4, "finished": 4,
              "goldyolo": {"seeds": [0, 1], "mean_AP50": 0.251}, "official": {"seeds": [0, 1], "mean_AP50": 0.243},
              "difference_AP50": {"goldyolo_minus_official": 0.008, "largest_seed_spread": 0.012,
                                  "exceeds_seed_spread": False}}
    summary.person_compare_lines(person, held, failed, left)
    assert held == ["On a task this CPU can learn (person alone, 150 epochs), the two trainers' final AP50 (goldyolo "
                    "0.251, official 0.243, means of 2 seeds) differ by +0.0080, less than the largest seed-to-seed "
                    "spread (0.0120)."]
    person["difference_AP50"]["exceeds_seed_spread"] = True
    summary.person_compare_lines(person, held, failed, left)
    assert "more than the largest" in failed[0]
    summary.person_compare_lines(None, held, failed, left)
    assert len(held) + len(failed) + len(left) == 3


def test_headline_rows_of_the_model_that_detects():
    kept = {"framework": "official", "seed": 0, "epoch": 149, "model": "gold_yolo-n", "img_size": 320,
            "AP": 0.10934, "AP50": 0.24746}
    person = {"official": {"seeds": [0], "mean_AP50": 0.2475, "spread_AP50": 0.0}, "planned": 4, "finished": 1}
    mode = {"official": {"AP": 0.10934}, "goldyolo": {"AP": 0.10934},
            "detections": {"official": 59782, "goldyolo": 59782, "matched": 59781}}
    table = summary.headline_table({"detector": kept, "person_compare": person,
                                    "person_eval_parity": {"square": mode}}, S_DEPLOY)
    measured = dict(zip(table.result, table["measured here"]))
    assert measured["A model that detects: person alone"] == (
        "Gold-YOLO-N at 320 px trained by the official trainer (seed 0, epoch 149), scored by goldyolo's evaluator: "
        "AP 0.1093, AP50 0.2475")
    assert "Beside the official trainer, person alone" not in measured  # no verdict yet: not a headline
    finished = dict(goldyolo={"seeds": [0, 1], "mean_AP50": 0.25, "spread_AP50": 0.01},
                    official={"seeds": [0, 1], "mean_AP50": 0.24, "spread_AP50": 0.02},
                    difference_AP50={"goldyolo_minus_official": 0.01, "largest_seed_spread": 0.02,
                                     "exceeds_seed_spread": False})
    shown = summary.headline_table({"person_compare": finished}, S_DEPLOY).set_index("result")["measured here"]
    assert shown["Beside the official trainer, person alone"] == (
        "goldyolo: AP50 0.2500 (spread 0.0100) over seeds 0, 1; official: AP50 0.2400 (spread 0.0200) over seeds 0, "
        "1; the difference is within the seed-to-seed spread")
    assert measured["Evaluator beside the official one"] == (
        "square: AP 0.1093 (official) vs 0.1093, 59,781 of 59,782 detections matched")
    empty = dict(zip(*summary.headline_table({}, S_DEPLOY)[["result", "measured here"]].T.values))
    assert empty["A model that detects: person alone"] == empty["Evaluator beside the official one"] == \
        "not in this build"


def test_speed_ratios_name_the_cpu_they_belong_to():
    text = summary.speed_text({"speed_ab": dict(AB, hardware={"cpu_model": "Xeon"})})
    assert text.startswith("on Xeon: gold_yolo-n 640 px batch 1 deploy: 1.02 (95% 0.98–1.05")
    other = {"hardware": {"cpu_model": "EPYC"}, "settings": [dict(AB["settings"][0], ratio=1.08),
                                                               dict(AB["settings"][0], batch=32, ratio=0.5)]}
    text = summary.speed_text({"speed_ab": dict(AB, hardware={"cpu_model": "Xeon"}), "speed_ab_elsewhere": [other]})
    assert text.endswith("; on EPYC, 1 of these settings give 1.08–1.08 (notebook 04)")  # the shared settings only


def test_the_weak_group_says_how_far_two_seeds_differ_and_step_parity_names_both_runs():
    compare = {"goldyolo": {"final_AP": [0.00147, 0.000445]}, "official": {"final_AP": [0.000348, 0.000487]}}
    assert round(summary.seed_fold(compare), 2) == 3.30 and summary.seed_fold({}) is None
    steps = {"img_size": 320, "goldyolo": {"loss_max": 1.3e-4, "weights_rel_l2": 7.8e-6},
             "control": {"loss_max": 9.0e-5, "weights_rel_l2": 7.9e-6}}
    assert summary._steps_320(steps) == ("; on the study's images at 320 px without mosaic, 1.3e-04 and 7.8e-06 "
                                         "against the control's 9.0e-05 and 7.9e-06")
    assert summary._steps_320(None) == ""
