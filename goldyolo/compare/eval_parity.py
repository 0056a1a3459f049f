"""``compare-eval``: goldyolo's evaluator and the official ``tools/eval.py`` on the same weights, per mode.

For each mode of :mod:`goldyolo.eval.modes` the official evaluator runs in a PyTorch child
(:func:`goldyolo.compare.official_trainer.run_eval`, on the YOLO-format export of the test images,
scoring against the same annotations: the val json itself with ``is_coco`` set for COCO's 80 classes,
else the json re-keyed as the official evaluator keys its detections) and goldyolo's evaluates the same ``.npz``
weights with the same options. Recorded per mode: both APs and their difference; each image's input
shape on both sides (the official one read from its own dataset); and the detections matched per image
and class (score within 1e-3, corners within 1 px), which shows where two evaluators differ even when
AP is near zero. The official evaluator runs the fused deploy form, goldyolo the training form, so
boxes agree to float rounding, not bit for bit. Mode ``trainer`` (not a default) evaluates as the official trainer
does during training (see :data:`TRAINER`). Output: ``OUT/eval_parity.json``.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from ..errors import InputError
from ..eval.evaluate import evaluate, max_stride
from ..eval.modes import eval_mode
from ..models import build_model
from ..models.checkpoint import load_weights
from ..utils.machine import portable_path
from .train_compare import check_official, run_official

MODES = ("square", "rect", "reproduce_640")
# the official trainer's own evaluation: its test loader (rect batches read at the training size, pad 0.5) and its
# training-form EMA model, through tools.eval.run(task="train"); goldyolo's side: --rect --test-load-size IMG_SIZE
TRAINER = "trainer"
ALL_MODES = MODES + (TRAINER,)
TOLERANCE_AP = 0.001  # 0.1 AP point


@dataclass
class EvalParityConfig:
    """One comparison; the defaults are the 200 test images at 640 px."""
    torch_reference: str = ""
    weights: str = ""
    model: str = "gold_yolo-n"
    data: str = "data/splits/test.json"
    images: str = "../shared/coco_subset/images"
    img_size: int = 640
    batch_size: int = 32
    modes: Tuple[str, ...] = MODES
    profile: str = "default"
    same_ground_truth: bool = True
    out: str = "runs/eval_parity"


def official_flags(mode: str, img_size: int, root: Path) -> List[str]:
    """``tools/eval.py`` options of a mode."""
    return {"square": ["--not_infer_on_rect", "--test_load_size", str(img_size)],
            "rect": [], TRAINER: [],
            "reproduce_640": ["--reproduce_640_eval", "--eval_config_file",
                              str(root / "configs" / "experiment" / "eval_640_repro.py")]}[mode]


def match_detections(ours: List[Dict], theirs: List[Dict], score_tol: float = 1e-3, box_tol: float = 1.0) -> Dict:
    """How many detections of each side have a partner on the other (same image and class, score and
    every box coordinate within the tolerances); the largest differences among the partners."""
    by_key = defaultdict(list)
    for d in theirs:
        by_key[(d["image_id"], d["category_id"])].append(d)
    matched, used, score_diff, box_diff = 0, set(), 0.0, 0.0
    for d in ours:
        best = None
        for j, t in enumerate(by_key[(d["image_id"], d["category_id"])]):
            key = (d["image_id"], d["category_id"], j)
            ds = abs(d["score"] - t["score"])
            db = float(np.abs(np.subtract(d["bbox"], t["bbox"])).max())
            if key not in used and ds <= score_tol and db <= box_tol and (best is None or db < best[1]):
                best = (key, db, ds)
        if best is not None:
            used.add(best[0])
            matched += 1
            box_diff, score_diff = max(box_diff, best[1]), max(score_diff, best[2])
    return {"goldyolo": len(ours), "official": len(theirs), "matched": matched,
            "largest_box_difference_px": box_diff, "largest_score_difference": score_diff}


def in_goldyolo_keys(detections: List[Dict], source, is_coco: bool) -> List[Dict]:
    """The official evaluator's detections keyed as goldyolo's: without ``is_coco`` it names an image by its
    file stem and a class by its index."""
    if is_coco:
        return detections
    image_id = {r.path.stem: r.image_id for r in source.records}
    return [dict(d, image_id=image_id[str(d["image_id"])], category_id=source.category_of_class(d["category_id"]))
            for d in detections]


def eval_parity(cfg: EvalParityConfig) -> str:
    """Run both evaluators in each mode and write ``eval_parity.json``; returns a summary."""
    from ..data.dataset import DetectionDataset
    from ..data.sources import open_source
    from ..data.yolo_format import write_yolo_dataset
    unknown = set(cfg.modes) - set(ALL_MODES)
    if unknown:
        raise InputError(f"unknown mode(s) {sorted(unknown)}; choose from {list(ALL_MODES)}")
    if not Path(cfg.weights).is_file():
        raise InputError(f"--weights {cfg.weights}: file not found (an .npz state dict with the official names)")
    root = check_official(cfg.torch_reference, cfg.model)
    out = Path(cfg.out)
    source = open_source(cfg.data, cfg.images, "val")
    data_yaml = write_yolo_dataset(source, source, out / "data", same_ground_truth=cfg.same_ground_truth)
    is_coco = bool(json.loads(data_yaml.read_text()).get("is_coco"))
    net = load_weights(build_model(cfg.model, num_classes=source.num_classes), cfg.weights)
    result: Dict = {"config": dict(asdict(cfg), torch_reference=portable_path(cfg.torch_reference),
                                   out=portable_path(cfg.out)), "modes": {}}
    for name in cfg.modes:
        folder = out / name
        spec = {"mode": "eval", "weights": str(Path(cfg.weights).resolve()), "num_classes": source.num_classes,
                "weights_name": cfg.profile if name == "reproduce_640" else "weights",
                "data_yaml": str(data_yaml.resolve()), "img_size": cfg.img_size, "batch_size": cfg.batch_size,
                "flags": official_flags(name, cfg.img_size, root), "out": str((folder / "official").resolve()),
                "trainer_loader": name == TRAINER}
        run_official(cfg, root, spec, folder / "official.log")
        official = json.loads((folder / "official" / "eval.json").read_text())
        load_size = cfg.img_size if name == TRAINER else 0  # the trainer reads its test images at the training size
        mode = eval_mode(f"{cfg.profile}.pt", rect=name in ("rect", TRAINER),
                         reproduce_640_eval=name == "reproduce_640", test_load_size=load_size)
        metrics = evaluate(net, source, cfg.img_size, cfg.batch_size, 0, 0.03, 0.65, out_dir=folder / "goldyolo",
                           mode=mode)
        dataset = DetectionDataset(source, cfg.img_size, batch_size=cfg.batch_size, stride=max_stride(net),
                                   **mode.dataset_options())
        ours = {r.path.name: list(dataset.input_shape(i)) for i, r in enumerate(dataset.records)}
        same_shape = sum(official["shapes"].get(k) == v for k, v in ours.items())
        detections = match_detections(json.loads((folder / "goldyolo" / "predictions.json").read_text()),
                                      in_goldyolo_keys(json.loads(Path(official["predictions"]).read_text()),
                                                       source, is_coco))
        result["modes"][name] = {
            "official": {"AP": official["AP"], "AP50": official["AP50"]},
            "goldyolo": {"AP": metrics["AP"], "AP50": metrics["AP50"]},
            "difference_AP": metrics["AP"] - official["AP"], "difference_AP50": metrics["AP50"] - official["AP50"],
            "within_tolerance": bool(abs(metrics["AP"] - official["AP"]) <= TOLERANCE_AP
                                     and abs(metrics["AP50"] - official["AP50"]) <= TOLERANCE_AP),
            "input_shapes": {"images": len(ours), "equal": same_shape,
                             "distinct": sorted({tuple(v) for v in ours.values()})},
            "detections": detections, "goldyolo_mode": metrics["mode"]}
    from ..utils.machine import environment
    result.update(environment=environment(), tolerance_AP=TOLERANCE_AP)
    (out / "eval_parity.json").write_text(json.dumps(result, indent=1, default=list))
    lines = [f"{n}: AP official {m['official']['AP']:.5f} goldyolo {m['goldyolo']['AP']:.5f}; shapes equal "
             f"{m['input_shapes']['equal']}/{m['input_shapes']['images']}; detections matched "
             f"{m['detections']['matched']} of {m['detections']['goldyolo']} / {m['detections']['official']}"
             for n, m in result["modes"].items()]
    return "\n".join(lines + [f"written: {out / 'eval_parity.json'}"])
