"""The commands of ``python -m goldyolo``: for each, the one function it calls and its options (a table
read by :mod:`goldyolo.cli`; an option's default comes from that function's signature or config dataclass)."""

from __future__ import annotations

import argparse
from typing import Any, Callable, Dict, NamedTuple, Optional, Sequence

from .config import CONFIGS


class Option(NamedTuple):
    """One option of a command: the target's parameter (or config field) it sets, its help, how it is parsed."""

    name: str
    help: str
    choices: Optional[Sequence] = None
    required: bool = False
    type: Optional[Callable] = None
    nargs: Optional[str] = None
    metavar: Optional[str] = None
    action: Optional[Any] = None
    positional: bool = False  # an argument, not an --option
    keyword: bool = False  # passed to the target beside its config (train's resume)

    def argparse_keywords(self) -> Dict[str, Any]:
        """The argparse keywords this option sets (those left at their defaults are left out)."""
        found = {
            "choices": self.choices,
            "type": self.type,
            "nargs": self.nargs,
            "metavar": self.metavar,
            "action": self.action,
        }
        found = {k: v for k, v in found.items() if v is not None}
        return dict(found, required=True) if self.required else found


MODELS = sorted(CONFIGS)
DEVICES, FRAME = ["cpu", "cuda"], ["goldyolo", "official"]
IMAGES = Option("images", "image folder (default: 'images' beside the json)")
RUN = [
    Option("img_size", "square input size"),
    Option("epochs", "epochs"),
    Option("batch_size", "images per step"),
    Option("workers", "data loading processes"),
    Option("device", "device", choices=DEVICES),
    Option("out", "run folder"),
]


class Command(NamedTuple):
    target: str  # "module:callable" run with the parsed options (a test imports every one)
    help: str
    options: Sequence["Option"]  # defaults come from the target's signature or its config dataclass
    config: str = ""  # "module:Dataclass": the options fill it and it is the one argument


GROUPS = {"data": "dataset tools", "setup": "set Jittor up for a device"}
COMMANDS: Dict[str, Command] = {
    "info": Command(
        "goldyolo.models.info:describe",
        "parameters, GFLOPs and layer summary of a model",
        [
            Option("model", "model name", positional=True, choices=MODELS),
            Option("img_size", "square input size for GFLOPs"),
            Option("num_classes", "number of classes"),
            Option("depth", "module depth of the layer summary"),
            Option("layers", "the layer summary"),
        ],
    ),
    "table": Command(
        "goldyolo.models.info:model_table",
        "markdown table of the models' counts beside the paper's",
        [Option("img_size", "square input size for GFLOPs")],
    ),
    "convert": Command(
        "goldyolo.models.official:convert",
        "official PyTorch .pt -> Jittor weights file",
        [
            Option("source", "official checkpoint (.pt)", positional=True),
            Option("output", "Jittor weights file to write (.pkl)", positional=True),
            Option("model", "model the checkpoint holds", required=True, choices=MODELS),
            Option("num_classes", "number of classes (default: read from the checkpoint)", type=int),
        ],
    ),
    "train": Command(
        "goldyolo.engine.trainer:train",
        "train a model on COCO-format or YOLO-format data (official recipe)",
        [
            Option("model", "model name", choices=MODELS),
            Option("data", "training data: COCO json, or a YOLO-format data.yaml (its train split)", required=True),
            IMAGES,
            Option(
                "val_data",
                "COCO json or data.yaml for evaluation (default: the data.yaml's val split, else the training data)",
            ),
            Option("val_images", "image folder of --val-data (default: 'images' beside it if present, else --images)"),
            *RUN,
            Option("seed", "random seed"),
            Option(
                "amp",
                "float16 mixed precision with loss scaling (default: on for cuda, off for cpu)",
                action=argparse.BooleanOptionalAction,
            ),
            Option("resume", "continue --out from last.pkl", keyword=True),
            Option(
                "precision",
                "precision of the CPU convolutions (bf16: products in bf16; weights, sums, BN, loss, "
                "optimizer and EMA in float32)",
                choices=["float32", "bf16"],
            ),
            Option("augment", "mosaic, affine, HSV and flip augmentation"),
            Option("subset", "use only the first N images (0: all)"),
            Option("eval_interval", "evaluate every N epochs (and the last)"),
            Option("nominal_batch", "batch gradients accumulate to"),
            Option("bs_per_gpu", "batch the config's lr0 refers to (lr0 x batch / this, as the official trainer)"),
            Option("init_weights", "start from these weights (.npz or .pkl state dict, strict)"),
            Option(
                "fuse_ab",
                "anchor-aided training (official --fuse_ab): an anchor-based head branch and loss beside the "
                "anchor-free ones, dropped for inference",
            ),
            Option("distill", "self-distillation (official --distill) from --teacher"),
            Option("teacher", "weights of a --fuse-ab run: its last.pkl/best.pkl (EMA) or a weights file"),
            Option("distill_feat", "the channel-wise feature term of distillation (official --distill_feat)"),
            Option("temperature", "distillation temperature"),
            Option(
                "use_dfl",
                "override the model config's DFL setting (the recipe: on, with --reg-max 16, for N)",
                action=argparse.BooleanOptionalAction,
            ),
            Option("reg_max", "override the model config's reg_max", type=int),
            Option("min_warmup_steps", "official minimum warm-up iterations"),
            Option("lr0", "initial learning rate (default: the model config's)", type=float),
            Option("warmup_epochs", "warm-up epochs (default: the model config's)", type=float),
        ],
        config="goldyolo.engine.trainer:TrainConfig",
    ),
    "compare-train": Command(
        "goldyolo.compare.train_compare:compare_train",
        "goldyolo and the official trainer side by side from the same initial weights (resumable)",
        [
            Option("torch_reference", "Detection/Gold-YOLO of an official checkout", metavar="PATH", required=True),
            Option("model", "model name", choices=MODELS),
            Option("data", "training COCO json"),
            Option("images", "its images"),
            Option("val_data", "test COCO json"),
            Option("val_images", "its images"),
            *RUN,
            Option("eval_interval", "evaluate every N"),
            Option("seeds", "seeds", type=int, nargs="+"),
            Option("frameworks", "trainers", nargs="+", choices=FRAME, type=str),
            Option("records", "folder that keeps finished runs' records between machines (read first, written last)"),
            Option(
                "fork_at",
                "start every run at this epoch from one official run's state (model, EMA, momentum, "
                "schedule position), each seed with its own randomness; 0: each from its initialisation",
            ),
            Option("fork_seed", "seed of the official run the forks start from"),
            Option(
                "precision",
                "precision of goldyolo's CPU convolutions (the official trainer runs float32)",
                choices=["float32", "bf16"],
            ),
        ],
        config="goldyolo.compare.train_compare:CompareConfig",
    ),
    "compare-precision": Command(
        "goldyolo.compare.precision:compare_precision",
        "a trained model's deploy outputs and COCO AP with bf16 convolutions against float32",
        [
            Option("weights", "training checkpoint (.pkl) or weights file", required=True),
            Option("data", "test COCO json or data.yaml"),
            IMAGES,
            Option("model", "model of plain weights files", choices=MODELS),
            Option("img_size", "square input size"),
            Option("batch_size", "images per batch"),
            Option(
                "conf_thres",
                "the evaluation's score threshold: anchors at or above it in float32 have their boxes compared",
            ),
            Option("out", "output json"),
        ],
        config="goldyolo.compare.precision:PrecisionConfig",
    ),
    "compare-steps": Command(
        "goldyolo.compare.step_parity:step_parity",
        "step parity with the official trainer: the "
        "same batches and weights, loss per step and final weights, with a control run",
        [
            Option("torch_reference", "Detection/Gold-YOLO of an official checkout", metavar="PATH", required=True),
            Option("model", "model name", choices=MODELS),
            Option("data", "COCO json"),
            Option("images", "its images"),
            Option("init", "initial weights .npz (default: the official initialisation, moved by --control)"),
            Option("img_size", "square input size"),
            Option("batch_size", "images per step"),
            Option("steps", "steps"),
            Option("steps_per_epoch", "steps per epoch"),
            Option("epochs", "epochs of the schedule"),
            Option("warmup_steps", "warm-up steps of both trainers (0: their own)"),
            Option("ema_start_updates", "both EMAs start as after this many updates"),
            Option("lr_scale", "both trainers' lr0 and warm-up bias lr times this"),
            Option("augment", "batches through the training augmentation"),
            Option("mosaic", "with mosaic (--no-mosaic: as in the last epochs)"),
            Option("control", "weight change of the control run"),
            Option("out", "folder"),
            Option("fixture", "also write the official side's compact results to this .npz (tests)"),
        ],
        config="goldyolo.compare.step_parity:StepParityConfig",
    ),
    "compare-data": Command(
        "goldyolo.compare.data_parity:data_parity",
        "goldyolo's training pipeline and the "
        "official one over the same images: what reaches the loss, as distributions",
        [
            Option("torch_reference", "Detection/Gold-YOLO of an official checkout", metavar="PATH", required=True),
            Option("model", "model name (its augmentation settings)", choices=MODELS),
            Option("data", "COCO json"),
            Option("images", "its images"),
            Option("img_size", "square input size"),
            Option("passes", "passes over the images"),
            Option("mosaic", "the mosaic phase (default: the last epochs' phase, without mosaic)"),
            Option("seed", "seed"),
            Option("out", "output folder"),
        ],
        config="goldyolo.compare.data_parity:DataParityConfig",
    ),
    "compare-eval": Command(
        "goldyolo.compare.eval_parity:eval_parity",
        "goldyolo's evaluator and the official tools/eval.py on the same weights in each evaluation mode",
        [
            Option("torch_reference", "Detection/Gold-YOLO of an official checkout", metavar="PATH", required=True),
            Option("weights", ".npz state dict (official names)", required=True),
            Option("model", "model name", choices=MODELS),
            Option("data", "COCO json or data.yaml of the test images"),
            Option("images", "its images"),
            Option("img_size", "square input size"),
            Option("batch_size", "images per batch"),
            Option("modes", "modes (trainer: as the official trainer evaluates during training; not a default)",
                   nargs="+", choices=["square", "rect", "reproduce_640", "trainer"], type=str),
            Option("profile", "weights name the --reproduce_640_eval profile is chosen by"),
            Option(
                "same_ground_truth",
                "data other than COCO's 80: the official evaluator scores against the same annotations as "
                "goldyolo's (--no-same-ground-truth: against the boxes it rebuilds from the label files, without "
                "crowd regions, as for a user's YOLO dataset)",
                action=argparse.BooleanOptionalAction,
            ),
            Option("out", "output folder"),
        ],
        config="goldyolo.compare.eval_parity:EvalParityConfig",
    ),
    "parity-report": Command(
        "goldyolo.compare.model_parity:parity_report",
        "goldyolo's outputs against the official model's on the same weights, all four sizes, as the report's json",
        [
            Option("reference", "the shared reference folder (weights.py, keys_*.json)"),
            Option("fixtures", "the official outputs (tests/fixtures/official_outputs.npz)"),
            Option("out", "json to write"),
        ],
    ),
    "speed-ab": Command(
        "goldyolo.compare.interleave:speed_ab",
        "Jittor and the official PyTorch model timed "
        "interleaved (A, B, A, B...) in repeated invocations, with the ratio's interval",
        [
            Option("torch_reference", "Detection/Gold-YOLO of an official checkout", metavar="PATH", required=True),
            Option("settings", "model:size:batch:mode entries, comma-separated (mode: eval, deploy, train_step)"),
            Option("runs", "timed runs per framework and invocation (at least 20)"),
            Option("warmup", "untimed runs first"),
            Option("invocations", "fresh sets of worker processes, one after the other"),
            Option("pause_ms", "idle milliseconds before each timed run, so that the previous worker's threads settle"),
            Option(
                "variants",
                "what is timed, comma-separated: jittor, jittor-ownconv, jittor-bf16, torch, torch-cl, "
                "torch-bf16, torch-bf16-cl, ort (ratios are to torch)",
            ),
            Option("device", "device", choices=DEVICES),
            Option("seed", "bootstrap seed"),
            Option("out", "results json"),
            Option(
                "worker",
                "internal: serve one variant's timed runs",
                choices=[
                    "jittor",
                    "jittor-ownconv",
                    "jittor-bf16",
                    "torch",
                    "torch-cl",
                    "torch-bf16",
                    "torch-bf16-cl",
                    "ort",
                ],
            ),
            Option("setting", "internal: the worker's setting"),
        ],
        config="goldyolo.compare.interleave:SpeedABConfig",
    ),
    "eval": Command(
        "goldyolo.eval.evaluate:eval_command",
        "COCO mAP of trained or converted weights",
        [
            Option("weights", "training checkpoint (.pkl) or converted weights", required=True),
            Option("data", "COCO annotation json, or a YOLO-format data.yaml (see --split)", required=True),
            IMAGES,
            Option("model", "model of plain weights files", choices=MODELS),
            Option("img_size", "square input size"),
            Option("batch_size", "images per batch"),
            Option("workers", "data loading processes"),
            Option("conf_thres", "score threshold"),
            Option("iou_thres", "NMS IoU threshold"),
            Option("out", "output folder (default: eval/ beside the weights)"),
            Option("split", "split of a data.yaml", choices=["train", "val", "test"]),
            Option(
                "rect",
                "the official default: aspect-ratio batches padded by half a stride (the long side can exceed "
                "--img-size), images loaded at --test-load-size",
            ),
            Option(
                "reproduce_640_eval",
                "the official --reproduce_640_eval: square input, the load size of the weights "
                "file's profile, integer pad, exact rescaling; conf 0.03, IoU 0.65",
            ),
            Option(
                "eval_profile", "profile of --reproduce-640-eval (default: the weights file's name, else 'default')"
            ),
            Option(
                "test_load_size",
                "long side images are loaded at (default: 640 with --rect, as the official "
                "tools/eval.py; else --img-size)",
            ),
            Option("force_no_pad", "--rect without the half-stride pad"),
            Option(
                "precision",
                "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
                choices=["float32", "bf16"],
            ),
        ],
    ),
    "export": Command(
        "goldyolo.models.export:export_command",
        "the deploy model as ONNX, checked with onnxruntime",
        [
            Option("weights", "training checkpoint (.pkl) or plain weights (with --model)", positional=True),
            Option("out", "ONNX file to write (default: beside the weights)"),
            Option("model", "model of plain weights files", choices=MODELS),
            Option("img_size", "square input size (the graph's shapes are static)"),
            Option("batch", "images per input"),
            Option("format", "export format", choices=["onnx"]),
            Option("num_classes", "classes of plain weights"),
        ],
    ),
    "predict": Command(
        "goldyolo.eval.predict:predict_command",
        "draw detections on images",
        [
            Option("weights", "training checkpoint (.pkl) or converted weights", required=True),
            Option("images", "image files", positional=True, nargs="+"),
            Option("out", "output folder", required=True),
            Option("model", "model of plain weights files", choices=MODELS),
            Option("img_size", "square input size"),
            Option("conf_thres", "score threshold"),
            Option("iou_thres", "NMS IoU threshold"),
            Option("data", "data.yaml or COCO json whose class names label the boxes (default: the checkpoint's)"),
            Option("save_json", "also write predictions.json: every image's boxes (pixels), scores, classes and names"),
            Option("save_txt", "also write labels/NAME.txt per image: 'class cx cy w h score', normalised"),
            Option(
                "precision",
                "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
                choices=["float32", "bf16"],
            ),
        ],
    ),
    "overfit": Command(
        "goldyolo.engine.overfit:overfit_command",
        "over-fit proof: gold_yolo-n on 16 images",
        [
            Option("data", "COCO annotation json", required=True),
            IMAGES,
            Option("out", "run folder"),
            Option("epochs", "epochs"),
            Option("num_images", "images trained and evaluated on"),
            Option("img_size", "square input size"),
            Option("seed", "random seed"),
        ],
    ),
    "soak": Command(
        "goldyolo.bench.soak:soak_command",
        "memory steadiness over a long run of training steps",
        [
            Option("model", "model name", choices=MODELS),
            Option("data", "COCO annotation json", required=True),
            IMAGES,
            Option("img_size", "square input size"),
            Option("batch_size", "images per step"),
            Option("iterations", "training steps"),
            Option("every", "sample memory every N steps"),
            Option("warmup_fraction", "leading part of the run not judged"),
            Option("tolerance", "largest RSS slope called flat, MiB per 1,000 iterations"),
            Option("seed", "random seed"),
            Option("device", "device", choices=DEVICES),
            Option("out", "output folder"),
        ],
    ),
    "bench": Command(
        "goldyolo.bench.measure:bench_command",
        "latency, training-step time and peak memory",
        [
            Option("model", "model name", choices=MODELS),
            Option("img_size", "square input size"),
            Option("batch", "batch sizes, comma-separated"),
            Option("device", "device", choices=DEVICES),
            Option("fused", "time the deploy form (goldyolo.fuse)"),
            Option("fp16", "half precision / mixed-precision train step"),
            Option("conv", "convolution backend on the CPU", choices=["onednn", "jittor"]),
            Option(
                "precision",
                "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
                choices=["float32", "bf16"],
            ),
            Option("train_step", "also time a full training step"),
            Option("warmup", "untimed runs first"),
            Option("runs", "timed runs"),
            Option("out", "results json (default runs/bench/MODEL_SIZE.json)"),
            Option("plot", "bar chart (PNG) beside the json"),
            Option("profile_layers", "per-module forward times"),
            Option("profile_ops", "kernel time by kind"),
            Option("reference", "official timings json (default ../shared/reference/torch_cpu_timings.json)"),
            Option(
                "torch_reference",
                "also time the official PyTorch model: PATH is Detection/Gold-YOLO of an official "
                "checkout (needs the torch extra)",
                metavar="PATH",
            ),
            Option("single", "internal: time one setting here", choices=["eval", "deploy", "train_step"]),
            Option(
                "single_torch", "internal: the same for the official model", choices=["eval", "deploy", "train_step"]
            ),
        ],
        config="goldyolo.bench.measure:BenchConfig",
    ),
    "data split": Command(
        "goldyolo.data.split:split_command",
        "800/200-style train/test split of a COCO json",
        [
            Option("ann", "COCO json to split (e.g. ../shared/coco_subset/instances.json)", required=True),
            Option("out", "output folder"),
            Option("test", "number of test images"),
            Option("seed", "random seed"),
            Option("any_source", "draw test images from all images, not only those with official annotations"),
        ],
    ),
    "data classes": Command(
        "goldyolo.data.classes:classes_command",
        "a COCO json restricted to some categories (e.g. person alone): a smaller task",
        [
            Option(
                "ann",
                "COCO json files (e.g. data/splits/train.json data/splits/test.json)",
                nargs="+",
                required=True,
                type=str,
            ),
            Option("classes", "category names, in the class order wanted", nargs="+", required=True, type=str),
            Option(
                "out",
                "output json for one file, else a folder that receives each file under its own name",
                required=True,
            ),
            Option("keep_empty", "keep the images without a chosen category (they train as background)"),
        ],
    ),
    "data sample": Command(
        "goldyolo.data.sample:sample_command",
        "small train/test sample (data/sample) of a split",
        [
            Option("train", "training split json"),
            Option("test", "test split json"),
            Option("images", "image folder of the splits", required=True),
            Option("out", "output folder"),
            Option("n_train", "training images"),
            Option("n_test", "test images"),
            Option("max_kb", "largest image file taken, in kB"),
        ],
    ),
    "setup cuda": Command(
        "goldyolo.setup.command:setup_cuda",
        "set Jittor up for CUDA 13 / cuDNN 9 and check it (changes the installed Jittor; --undo reverses it)",
        [
            Option("undo", "remove the fixes, the CUDA home and the settings"),
            Option("nvcc", "nvcc to use (default: found)"),
            Option("check", "the GPU check in a fresh process"),
        ],
    ),
    "data to-yolo": Command(
        "goldyolo.data.yolo_format:coco_to_yolo",
        "COCO json train/val -> the YOLO layout (images/, labels/, data.yaml)",
        [
            Option("train_data", "training COCO json", required=True),
            Option("val_data", "validation COCO json", required=True),
            Option("out", "output folder", required=True),
            Option("images", "images of --train-data"),
            Option("val_images", "images of --val-data (default: 'images' beside it if present, else --images)"),
            Option("copy", "copy the images instead of linking them"),
        ],
    ),
    "data to-coco": Command(
        "goldyolo.data.yolo_source:yolo_to_coco",
        "one split of a YOLO data.yaml -> COCO json",
        [
            Option("data", "data.yaml", positional=True),
            Option("split", "split", choices=["train", "val", "test"]),
            Option("out", "json to write (default: SPLIT.json beside the yaml)"),
        ],
    ),
    "data coco": Command(
        "goldyolo.data.download:fetch_coco",
        "download COCO val2017 images and annotations",
        [Option("root", "folder for the zips and the extracted data", required=True)],
    ),
}
