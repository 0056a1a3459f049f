"""Command line: ``python -m goldyolo COMMAND``. Each command parses its options and makes one call into the
module that does the work; defaults are read from that function's signature or config dataclass. Only the
chosen command's module is imported (``--help`` and ``data split`` never load Jittor).

Exit codes: 0 done; 1 a check failed (memory not flat, a benchmark setting failed) or a run stopped on an error
of its own (e.g. non-finite losses); 2 bad input (a missing or unreadable file, bad weights, an unknown model or
notebook, no network for a download; the message names it). Programming errors show their traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence

from .config import CONFIGS
from .errors import GoldYoloError, InputError

MODELS = sorted(CONFIGS)
DEVICES, FRAME = ["cpu", "cuda"], ["goldyolo", "official"]
IMAGES = ("images", "image folder (default: 'images' beside the json)")
RUN = [("img_size", "square input size"), ("epochs", "epochs"), ("batch_size", "images per step"),
       ("workers", "data loading processes"), ("device", "device", {"choices": DEVICES}), ("out", "run folder")]


class Command(NamedTuple):
    target: str            # "module:callable" run with the parsed options
    help: str
    options: Sequence[tuple]  # (name, help[, argparse keywords]); defaults come from the target
    config: str = ""       # "module:Dataclass": the options fill it and it is the one argument


COMMANDS: Dict[str, Command] = {
    "info": Command("goldyolo.models.info:describe", "parameters, GFLOPs and layer summary of a model", [
        ("model", "model name", {"positional": True, "choices": MODELS}),
        ("img_size", "square input size for GFLOPs"), ("num_classes", "number of classes"),
        ("depth", "module depth of the layer summary"), ("layers", "the layer summary")]),
    "table": Command("goldyolo.models.info:model_table", "markdown table of all models (README)",
                     [("img_size", "square input size for GFLOPs")]),
    "convert": Command("goldyolo.models.official:convert", "official PyTorch .pt -> Jittor weights file", [
        ("source", "official checkpoint (.pt)", {"positional": True}),
        ("output", "Jittor weights file to write (.pkl)", {"positional": True}),
        ("model", "model the checkpoint holds", {"required": True, "choices": MODELS}),
        ("num_classes", "number of classes (default: read from the checkpoint)", {"type": int})]),
    "train": Command("goldyolo.engine.trainer:train", "train a model on COCO-format data (official recipe)", [
        ("model", "model name", {"choices": MODELS}),
        ("data", "COCO annotation json of the training images", {"required": True}),
        IMAGES,
        ("val_data", "COCO json for evaluation (default: the training data)"),
        ("val_images", "image folder of --val-data"), *RUN, ("seed", "random seed"),
        ("amp", "float16 mixed precision with loss scaling (default: on for cuda, off for cpu)",
         {"action": argparse.BooleanOptionalAction}), ("resume", "continue --out from last.pkl", {"keyword": True}),
        ("augment", "mosaic, affine, HSV and flip augmentation"), ("subset", "use only the first N images (0: all)"),
        ("eval_interval", "evaluate every N epochs (and the last)"), ("nominal_batch", "batch gradients accumulate to"),
        ("bs_per_gpu", "images per process lr0 refers to (lr0 x batch / (processes x this), as the official)"),
        ("init_weights", "start from these weights (.npz or .pkl state dict, strict)"),
        ("min_warmup_steps", "official minimum warm-up iterations"),
        ("lr0", "initial learning rate (default: the model config's)", {"solver": True, "type": float}),
        ("warmup_epochs", "warm-up epochs (default: the model config's)", {"solver": True, "type": float})],
        config="goldyolo.engine.trainer:TrainConfig"),
    "compare-train": Command("goldyolo.compare.train_compare:compare_train", "goldyolo and the official trainer "
                             "side by side from the same initial weights (resumable)", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("model", "model name", {"choices": MODELS}), ("data", "training COCO json"), ("images", "its images"),
        ("val_data", "test COCO json"), ("val_images", "its images"), *RUN, ("eval_interval", "evaluate every N"),
        ("seeds", "seeds", {"type": int, "nargs": "+"}), ("frameworks", "trainers", {"nargs": "+", "choices": FRAME})],
        config="goldyolo.compare.train_compare:CompareConfig"),
    "eval": Command("goldyolo.eval.evaluate:eval_command", "COCO mAP of trained or converted weights", [
        ("weights", "training checkpoint (.pkl) or converted weights", {"required": True}),
        ("data", "COCO annotation json", {"required": True}), IMAGES,
        ("model", "model of plain weights files", {"choices": MODELS}), ("img_size", "square input size"),
        ("batch_size", "images per batch"), ("workers", "data loading processes"), ("conf_thres", "score threshold"),
        ("iou_thres", "NMS IoU threshold"), ("out", "output folder (default: eval/ beside the weights)")]),
    "predict": Command("goldyolo.eval.predict:predict_command", "draw detections on images", [
        ("weights", "training checkpoint (.pkl) or converted weights", {"required": True}),
        ("images", "image files", {"positional": True, "nargs": "+"}), ("out", "output folder", {"required": True}),
        ("model", "model of plain weights files", {"choices": MODELS}), ("img_size", "square input size"),
        ("conf_thres", "score threshold"), ("iou_thres", "NMS IoU threshold")]),
    "overfit": Command("goldyolo.engine.overfit:overfit_command", "over-fit proof: gold_yolo-n on 16 images", [
        ("data", "COCO annotation json", {"required": True}), IMAGES, ("out", "run folder"), ("epochs", "epochs"),
        ("num_images", "images trained and evaluated on"), ("img_size", "square input size"), ("seed", "random seed")]),
    "soak": Command("goldyolo.bench.soak:soak_command", "memory steadiness over a long run of training steps", [
        ("model", "model name", {"choices": MODELS}), ("data", "COCO annotation json", {"required": True}), IMAGES,
        ("img_size", "square input size"), ("batch_size", "images per step"), ("iterations", "training steps"),
        ("every", "sample memory every N steps"), ("warmup_fraction", "leading part of the run not judged"),
        ("tolerance", "largest RSS slope called flat, MiB per 1,000 iterations"), ("seed", "random seed"),
        ("device", "device", {"choices": DEVICES}), ("out", "output folder")]),
    "bench": Command("goldyolo.bench.measure:bench_command", "latency, training-step time and peak memory", [
        ("model", "model name", {"choices": MODELS}), ("img_size", "square input size"),
        ("batch", "batch sizes, comma-separated"), ("device", "device", {"choices": DEVICES}),
        ("fused", "time the deploy form (goldyolo.fuse)"), ("fp16", "half precision / mixed-precision train step"),
        ("train_step", "also time a full training step"), ("warmup", "untimed runs first"), ("runs", "timed runs"),
        ("out", "results json (default runs/bench/MODEL_SIZE.json)"), ("plot", "bar chart (PNG) beside the json"),
        ("profile_layers", "per-module forward times"), ("profile_ops", "kernel time by kind"),
        ("reference", "official timings json (default ../shared/reference/torch_cpu_timings.json)"),
        ("torch_reference", "also time the official PyTorch model: PATH is Detection/Gold-YOLO of an official "
                            "checkout (needs the torch extra)", {"metavar": "PATH"}),
        ("single", "internal: time one setting here", {"choices": ["eval", "deploy", "train_step"]}),
        ("single_torch", "internal: the same for the official model", {"choices": ["eval", "deploy", "train_step"]})],
        config="goldyolo.bench.measure:BenchConfig"),
    "report": Command("goldyolo.study.report:report_command", "execute the notebooks and build the HTML/PDF report", [
        ("profile", "parameter set (goldyolo/study/profiles.py)", {"choices": ["quick", "full", "ci"]}),
        ("only", "comma-separated notebook prefixes or names to execute, e.g. 02,03"),
        ("pdf", "the PDF beside the HTML (needs Chromium)"),
        ("train", "running or finishing the training before notebook 03")]),
    "data split": Command("goldyolo.data.split:split_command", "800/200-style train/test split of a COCO json", [
        ("ann", "COCO json to split (e.g. ../shared/coco_subset/instances.json)", {"required": True}),
        ("out", "output folder"), ("test", "number of test images"), ("seed", "random seed"),
        ("any_source", "draw test images from all images, not only those with official annotations")]),
    "data sample": Command("goldyolo.data.sample:sample_command", "small train/test sample (data/sample) of a split", [
        ("train", "training split json"), ("test", "test split json"),
        ("images", "image folder of the splits", {"required": True}), ("out", "output folder"),
        ("n_train", "training images"), ("n_test", "test images"), ("max_kb", "largest image file taken, in kB")]),
    "data coco": Command("goldyolo.data.download:fetch_coco", "download COCO val2017 images and annotations",
                         [("root", "folder for the zips and the extracted data", {"required": True})]),
}


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _defaults(command: Command) -> Dict[str, object]:
    """Defaults of the target's parameters, and of the fields of its config dataclass."""
    found = {k: p.default for k, p in inspect.signature(_load(command.target)).parameters.items()
             if p.default is not p.empty}
    if command.config:
        found.update({f.name: f.default for f in dataclasses.fields(_load(command.config))
                      if f.default is not dataclasses.MISSING})
    return found


def _add_options(parser: argparse.ArgumentParser, command: Command) -> None:
    defaults = _defaults(command)
    for name, text, *more in command.options:
        kw = dict(more[0]) if more else {}
        positional, _, _ = kw.pop("positional", False), kw.pop("keyword", None), kw.pop("solver", None)
        flag = name if positional else "--" + name.replace("_", "-")
        default = defaults.get(name)
        if positional:
            parser.add_argument(flag, help=text, **kw)
        elif isinstance(default, bool) and "action" not in kw:
            flag = "--no-" + name.replace("_", "-") if default else flag
            parser.add_argument(flag, dest=name, action="store_false" if default else "store_true",
                                help=f"skip {text}" if default else text)
        else:
            if "action" not in kw:
                kw.setdefault("type", type(default) if default not in (None, "") else str)
            shown = f" (default: {default})" if default not in (None, "") and "default" not in text else ""
            parser.add_argument(flag, default=default, help=text + shown, **kw)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the command named in ``argv`` gets its options (and imports its module)."""
    parser = argparse.ArgumentParser(prog="python -m goldyolo", description="Gold-YOLO in Jittor: train, evaluate, "
                                     "predict, inspect and convert. Exit codes: 0 done, 1 a check failed, 2 bad input.")
    commands = parser.add_subparsers(dest="command", required=True)
    words = [a for a in argv if not a.startswith("-")][:2]
    data = None
    for name, command in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        if group and data is None:
            data = commands.add_parser(group, help="dataset tools").add_subparsers(dest="subcommand", required=True)
        sub = (data if group else commands).add_parser(leaf, help=command.help, description=command.help)
        if name.split() == words[:len(name.split())]:
            _add_options(sub, command)
        sub.set_defaults(name=name)
    return parser


def _call(command: Command, args: argparse.Namespace):
    values = {n: getattr(args, n) for n, *_ in command.options if hasattr(args, n)}
    if not command.config:
        return _load(command.target)(**values)
    extra = {n: values.pop(n) for n, _, *more in command.options if more and more[0].get("keyword")}
    solver = {n: values.pop(n) for n, _, *more in command.options if more and more[0].get("solver")}
    solver = {k: v for k, v in solver.items() if v is not None}
    config = _load(command.config)(**values, **({"solver": solver} if solver else {}))
    return _load(command.target)(config, **extra)


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m goldyolo``; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        result = _call(COMMANDS[args.name], args)
    except (InputError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except GoldYoloError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    return result if isinstance(result, int) else 0
