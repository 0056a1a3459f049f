"""compare-train: the YOLO-format data both trainers read, the summary, and (with the official code)
the official trainer's resume and the whole comparison on the sample."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from goldyolo.compare.train_compare import CompareConfig, check_official, compare_train, eval_epochs, summarize
from goldyolo.data.coco import CocoSource
from goldyolo.data.yolo_format import COCO80_IDS, write_yolo_dataset
from goldyolo.errors import InputError

from conftest import OFFICIAL_CODE, SAMPLE


def sources():
    return (CocoSource(SAMPLE / "train.json", SAMPLE / "images"), CocoSource(SAMPLE / "test.json", SAMPLE / "images"))


def test_yolo_layout_holds_the_same_boxes_as_the_coco_source(tmp_path):
    train, val = sources()
    data = json.loads(write_yolo_dataset(train, val, tmp_path).read_text())
    assert data["nc"] == 80 and data["names"] == train.names and len(COCO80_IDS) == 80
    assert data["is_coco"] is True and data["anno_path"] == str((SAMPLE / "test.json").resolve())
    for split, source in (("train", train), ("val", val)):
        assert Path(data[split]) == (tmp_path / "images" / split).resolve()
        assert len(list((tmp_path / "images" / split).iterdir())) == len(source.records)
        for record in source.records:
            link = tmp_path / "images" / split / record.path.name
            assert link.is_symlink() and link.resolve() == record.path.resolve()
            text = (tmp_path / "labels" / split / f"{record.path.stem}.txt").read_text()
            read = np.array([line.split() for line in text.splitlines()], dtype=np.float32).reshape(-1, 5)
            assert np.array_equal(read, record.labels)  # the official reader gets the same float32 boxes
    write_yolo_dataset(train, val, tmp_path)  # a second call (a resumed comparison) keeps the links


def test_the_official_evaluator_can_score_a_one_class_dataset_against_the_same_annotations(tmp_path):
    from goldyolo.data.classes import select_classes
    coco = select_classes(json.loads((SAMPLE / "test.json").read_text()), ["person"], keep_empty=True)
    coco["annotations"][0]["iscrowd"] = 1  # a crowd region: not in the label files, kept in the json
    (tmp_path / "person.json").write_text(json.dumps(coco))
    val = CocoSource(tmp_path / "person.json", SAMPLE / "images")
    rebuilt = json.loads(write_yolo_dataset(val, val, tmp_path / "a").read_text())
    assert "is_coco" not in rebuilt and "anno_path" not in rebuilt  # the official default: boxes from labels
    data = json.loads(write_yolo_dataset(val, val, tmp_path / "b", same_ground_truth=True).read_text())
    assert "is_coco" not in data and data["nc"] == 1
    truth = json.loads(Path(data["anno_path"]).read_text())
    stems = {r.image_id: r.path.stem for r in val.records}
    assert sorted(im["id"] for im in truth["images"]) == sorted(stems.values()) and len(stems) == 8
    assert truth["categories"] == [{"id": 0, "name": "person"}]
    assert len(truth["annotations"]) == len(coco["annotations"]) == 7
    first = coco["annotations"][0]
    kept = [a for a in truth["annotations"] if a["id"] == first["id"]][0]
    assert kept["iscrowd"] == 1 and kept["image_id"] == stems[first["image_id"]] and kept["category_id"] == 0
    assert kept["bbox"] == first["bbox"] and kept["area"] == first["area"]


def test_a_file_name_taken_by_another_image_is_refused(tmp_path):
    train, val = sources()
    (tmp_path / "images" / "train").mkdir(parents=True)
    os.symlink(SAMPLE / "test.json", tmp_path / "images" / "train" / train.records[0].path.name)
    with pytest.raises(InputError, match="already holds another file"):
        write_yolo_dataset(train, val, tmp_path)


def test_evaluated_epochs_and_summary():
    assert eval_epochs(30, 5) == [4, 9, 14, 19, 24, 29] and eval_epochs(7, 0) == [6]

    def run(framework, seed, ap):
        return {"framework": framework, "seed": seed, "epochs": [{"epoch": 0}, {"epoch": 1, "AP": ap, "AP50": 2 * ap}]}
    runs = [run("goldyolo", 0, 0.10), run("goldyolo", 1, 0.12), run("official", 0, 0.11), run("official", 1, 0.14)]
    summary = summarize(runs, epochs=2)
    assert summary["goldyolo"]["final_AP"] == [0.10, 0.12] and summary["official"]["spread_AP"] == pytest.approx(0.03)
    difference = summary["difference_AP"]
    assert difference["goldyolo_minus_official"] == pytest.approx(-0.015)
    assert difference["largest_seed_spread"] == pytest.approx(0.03) and not difference["exceeds_seed_spread"]
    runs[2]["epochs"][-1]["AP"], runs[3]["epochs"][-1]["AP"] = 0.30, 0.31
    assert summarize(runs, epochs=2)["difference_AP"]["exceeds_seed_spread"]
    assert "difference_AP" not in summarize(runs[:3], epochs=3)  # unfinished runs are not summarised


def test_a_run_folder_is_continued_only_with_its_settings(tmp_path):
    from goldyolo.compare.train_compare import check_same_settings
    check_same_settings(CompareConfig(), tmp_path / "settings.json")
    check_same_settings(CompareConfig(seeds=(0, 1, 2), frameworks=("goldyolo",)), tmp_path / "settings.json")
    with pytest.raises(InputError, match="--img-size 320 -> 640"):
        check_same_settings(CompareConfig(img_size=640), tmp_path / "settings.json")


def test_records_keep_finished_runs_only_and_do_not_overwrite(tmp_path):
    from goldyolo.compare.train_compare import copy_records
    cfg = CompareConfig(epochs=2)
    run_dir, records = tmp_path / "run", tmp_path / "records"

    def write(folder, run, epochs, extra=None):
        (folder / run).mkdir(parents=True, exist_ok=True)
        (folder / run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e}) + "\n" for e in range(epochs)))
        if extra:
            (folder / run / "goldyolo_eval.json").write_text(json.dumps(extra))
    write(run_dir, "seed_0/goldyolo", 2)
    write(run_dir, "seed_0/official", 2, {"1": {"AP": 0.1}})
    write(run_dir, "seed_1/official", 1)  # unfinished: its weights are not kept, so neither are its records
    (run_dir / "settings.json").write_text("{}")
    (run_dir / "ema.npz").write_bytes(b"weights")
    assert copy_records(run_dir, records, cfg, replace=True) == ["seed_0/goldyolo", "seed_0/official"]
    assert json.loads((records / "seed_0/official/goldyolo_eval.json").read_text()) == {"1": {"AP": 0.1}}
    assert not (records / "seed_1").exists() and not (records / "ema.npz").exists()
    assert (records / "settings.json").is_file()

    fresh = tmp_path / "fresh"
    write(fresh, "seed_0/goldyolo", 2)
    (fresh / "seed_0/goldyolo/metrics.jsonl").write_text("kept\n")
    assert copy_records(records, fresh, cfg, replace=False) == ["seed_0/official"]  # a run it has is kept
    assert (fresh / "seed_0/goldyolo/metrics.jsonl").read_text() == "kept\n"
    assert len((fresh / "seed_0/official/metrics.jsonl").read_text().splitlines()) == 2


def test_a_folder_that_is_not_the_official_code_is_refused(tmp_path):
    pytest.importorskip("torch")
    with pytest.raises(InputError, match="configs/gold_yolo-n.py is missing"):
        check_official(str(tmp_path), "gold_yolo-n")


@pytest.mark.needs_official_code
def test_official_trainer_resumes_exactly(tmp_path):
    import subprocess
    import sys
    train, val = sources()
    data_yaml = write_yolo_dataset(train, val, tmp_path / "data")
    base = {"mode": "init", "root": str(OFFICIAL_CODE), "model": "gold_yolo-n", "num_classes": 80, "seed": 3,
            "init": str(tmp_path / "init.npz"), "threads": 2}

    def child(**spec):
        path = tmp_path / f"spec_{len(list(tmp_path.glob('spec_*')))}.json"
        path.write_text(json.dumps(dict(base, **spec)))
        return subprocess.run([sys.executable, "-m", "goldyolo.compare.official_trainer", str(path)],
                              capture_output=True, text=True).returncode
    assert child() == 0
    # 4 epochs, mosaic off for the last 2: cut after epoch 0 (with mosaic) and after epoch 2 (without)
    train_spec = dict(mode="train", data_yaml=str(data_yaml), img_size=96, batch_size=8, epochs=4, workers=0,
                      device="cpu", save_ema_epochs=[3], stop_aug_last_n_epoch=2)
    assert child(**train_spec, out=str(tmp_path / "whole")) == 0
    for cut_after in (0, 2):
        assert child(**train_spec, out=str(tmp_path / "cut"), stop_after_epoch=cut_after) == 75
    assert child(**train_spec, out=str(tmp_path / "cut")) == 0
    whole, cut = (np.load(tmp_path / name / "ema" / "epoch_003.npz") for name in ("whole", "cut"))
    assert all(np.array_equal(whole[k], cut[k]) for k in whole.files)
    lines = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [0, 1, 2, 3]
    assert [x["mosaic"] for x in lines] == [True, True, False, False]  # off from epoch 4 - 2, also when resumed
    assert lines[0]["lr"][2] == pytest.approx(0.1 + (0.005 - 0.1) * 2 / 1000)
    assert lines == [dict(x, time_s=y["time_s"], images_per_s=y["images_per_s"], eval_time_s=y["eval_time_s"])
                     for x, y in zip([json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text()
                                      .splitlines()], lines)]  # the same losses and learning rates
    # a run shorter than stop_aug_last_n_epoch keeps mosaic on throughout, resumed or not (the official rule)
    short = dict(train_spec, epochs=2, stop_aug_last_n_epoch=15, save_ema_epochs=[])
    assert child(**short, out=str(tmp_path / "short"), stop_after_epoch=0) == 75
    assert child(**short, out=str(tmp_path / "short")) == 0
    lines = [json.loads(x) for x in (tmp_path / "short" / "metrics.jsonl").read_text().splitlines()]
    assert [x["mosaic"] for x in lines] == [True, True]


@pytest.mark.needs_official_code
def test_compare_train_runs_both_trainers_from_the_same_weights(tmp_path):
    cfg = CompareConfig(torch_reference=str(OFFICIAL_CODE), data=str(SAMPLE / "train.json"),
                        images=str(SAMPLE / "images"), val_data=str(SAMPLE / "test.json"),
                        val_images=str(SAMPLE / "images"), img_size=96, epochs=2, batch_size=8, seeds=(0,),
                        eval_interval=1, out=str(tmp_path))
    compare_train(cfg)
    result = json.loads((tmp_path / "compare.json").read_text())
    runs = {r["framework"]: r["epochs"] for r in result["runs"]}
    assert [len(runs[f]) for f in ("goldyolo", "official")] == [2, 2]
    for gold, official in zip(runs["goldyolo"], runs["official"]):
        # the same schedule (warm-up, cosine, Q18's batch rescaling of lr0) in both trainers
        assert gold["lr"] == pytest.approx(official["lr"], rel=1e-9)
        assert "AP" in gold and "AP" in official and "official_AP" in official
    assert (tmp_path / "compare.png").stat().st_size > 10_000
    init = np.load(tmp_path / "seed_0" / "init.npz")
    assert init["backbone.stem.rbr_dense.conv.weight"].dtype == np.float32


@pytest.mark.needs_official_code
def test_forked_runs_start_from_one_official_state_with_their_own_randomness(tmp_path):
    from goldyolo.engine.solver import build_optimizer
    from goldyolo.models import build_model
    cfg = CompareConfig(torch_reference=str(OFFICIAL_CODE), data=str(SAMPLE / "train.json"),
                        images=str(SAMPLE / "images"), val_data=str(SAMPLE / "test.json"),
                        val_images=str(SAMPLE / "images"), img_size=96, epochs=3, batch_size=8, seeds=(0, 1),
                        eval_interval=0, out=str(tmp_path), fork_at=2, fork_seed=5)
    compare_train(cfg)
    base = [json.loads(x) for x in (tmp_path / "fork_base" / "official" / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in base] == [0, 1]
    result = json.loads((tmp_path / "compare.json").read_text())
    runs = {(r["framework"], r["seed"]): r["epochs"] for r in result["runs"]}
    assert len(runs) == 4
    for lines in runs.values():
        assert [x["epoch"] for x in lines] == [0, 1, 2] and [x.get("fork_base") for x in lines] == [True, True, None]
        assert [dict(x, fork_base=None) for x in lines[:2]] == [dict(x, fork_base=None) for x in base]
    for framework in ("goldyolo", "official"):  # the same state, but each seed its own batches
        assert runs[framework, 0][2]["iou_loss"] != runs[framework, 1][2]["iou_loss"]
    for seed in (0, 1):  # the schedule goes on from the same position in both trainers
        assert runs["goldyolo", seed][2]["lr"] == pytest.approx(runs["official", seed][2]["lr"], rel=1e-9)
        assert abs(runs["goldyolo", seed][2]["loss"] / runs["official", seed][2]["loss"] - 1) < 0.3
    state = np.load(tmp_path / "fork_base" / "state.npz")
    assert int(state["epoch"]) == 1 and int(state["ema_updates"]) > 0 and int(state["last_opt_step"]) > 0
    model = build_model("gold_yolo-n", num_classes=80)
    named = dict(model.named_parameters())
    optimized = [p for g in build_optimizer(model, {"lr0": 0.01, "momentum": 0.9}, 5e-4).param_groups
                 for p in g["params"]]
    momentum = {k[9:]: v for k, v in state.items() if k.startswith("momentum/")}
    assert sorted(momentum) == sorted(n for n, p in named.items() if any(p is q for q in optimized))
    assert all(momentum[n].shape == tuple(named[n].shape) for n in momentum)
    assert np.mean([np.abs(v).max() > 0 for v in momentum.values()]) > 0.9
    assert not np.array_equal(state["model/detect.cls_preds.0.weight"], state["ema/detect.cls_preds.0.weight"])


def test_official_arguments_are_the_plain_recipe_on_the_chosen_device():
    from goldyolo.compare.official_trainer import official_args
    spec = {"data_yaml": "d.yaml", "model": "gold_yolo-s", "img_size": 640, "batch_size": 32, "epochs": 30,
            "workers": 8, "device": "cuda", "out": "/o"}
    args = official_args(spec)
    assert args[args.index("--device") + 1] == "0" and args[args.index("--conf-file") + 1] == "configs/gold_yolo-s.py"
    assert "--fuse_ab" not in args and "--distill" not in args and "--resume" not in args
    assert official_args(dict(spec, device="cpu"), resume="/o/r.pt")[-2:] == ["--resume", "/o/r.pt"]
    assert official_args(dict(spec, device="cpu"))[official_args(spec).index("--device") + 1] == "cpu"
