"""The commands of ``python -m goldyolo``: for each, the one function it calls and its options (a table
read by :mod:`goldyolo.cli`; an option's default comes from that function's signature or config dataclass)."""
from __future__ import annotations

import argparse
from typing import Dict, NamedTuple, Sequence

from .config import CONFIGS

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


GROUPS = {"data": "dataset tools", "setup": "set Jittor up for a device"}
COMMANDS: Dict[str, Command] = {
    "info": Command("goldyolo.models.info:describe", "parameters, GFLOPs and layer summary of a model", [
        ("model", "model name", {"positional": True, "choices": MODELS}),
        ("img_size", "square input size for GFLOPs"), ("num_classes", "number of classes"),
        ("depth", "module depth of the layer summary"), ("layers", "the layer summary")]),
    "table": Command("goldyolo.models.info:model_table", "markdown table of the models' counts beside the paper's",
                     [("img_size", "square input size for GFLOPs")]),
    "convert": Command("goldyolo.models.official:convert", "official PyTorch .pt -> Jittor weights file", [
        ("source", "official checkpoint (.pt)", {"positional": True}),
        ("output", "Jittor weights file to write (.pkl)", {"positional": True}),
        ("model", "model the checkpoint holds", {"required": True, "choices": MODELS}),
        ("num_classes", "number of classes (default: read from the checkpoint)", {"type": int})]),
    "train": Command("goldyolo.engine.trainer:train", "train a model on COCO-format or YOLO-format data (official "
                     "recipe)", [
        ("model", "model name", {"choices": MODELS}),
        ("data", "training data: COCO json, or a YOLO-format data.yaml (its train split)", {"required": True}),
        IMAGES,
        ("val_data", "COCO json or data.yaml for evaluation (default: the data.yaml's val split, else the "
                     "training data)"),
        ("val_images", "image folder of --val-data"), *RUN, ("seed", "random seed"),
        ("amp", "float16 mixed precision with loss scaling (default: on for cuda, off for cpu)",
         {"action": argparse.BooleanOptionalAction}), ("resume", "continue --out from last.pkl", {"keyword": True}),
        ("precision", "precision of the CPU convolutions (bf16: products in bf16; weights, sums, BN, loss, "
                      "optimizer and EMA in float32)", {"choices": ["float32", "bf16"]}),
        ("augment", "mosaic, affine, HSV and flip augmentation"), ("subset", "use only the first N images (0: all)"),
        ("eval_interval", "evaluate every N epochs (and the last)"), ("nominal_batch", "batch gradients accumulate to"),
        ("bs_per_gpu", "batch the config's lr0 refers to (lr0 x batch / this, as the official trainer)"),
        ("init_weights", "start from these weights (.npz or .pkl state dict, strict)"),
        ("fuse_ab", "anchor-aided training (official --fuse_ab): an anchor-based head branch and loss beside the "
                    "anchor-free ones, dropped for inference"),
        ("distill", "self-distillation (official --distill) from --teacher"),
        ("teacher", "weights of a --fuse-ab run: its last.pkl/best.pkl (EMA) or a weights file"),
        ("distill_feat", "the channel-wise feature term of distillation (official --distill_feat)"),
        ("temperature", "distillation temperature"),
        ("use_dfl", "override the model config's DFL setting (the recipe: on, with --reg-max 16, for N)",
         {"action": argparse.BooleanOptionalAction}),
        ("reg_max", "override the model config's reg_max", {"type": int}),
        ("min_warmup_steps", "official minimum warm-up iterations"),
        ("lr0", "initial learning rate (default: the model config's)", {"solver": True, "type": float}),
        ("warmup_epochs", "warm-up epochs (default: the model config's)", {"solver": True, "type": float})],
        config="goldyolo.engine.trainer:TrainConfig"),
    "compare-train": Command("goldyolo.compare.train_compare:compare_train", "goldyolo and the official trainer "
                             "side by side from the same initial weights (resumable)", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("model", "model name", {"choices": MODELS}), ("data", "training COCO json"), ("images", "its images"),
        ("val_data", "test COCO json"), ("val_images", "its images"), *RUN, ("eval_interval", "evaluate every N"),
        ("seeds", "seeds", {"type": int, "nargs": "+"}),
        ("frameworks", "trainers", {"nargs": "+", "choices": FRAME, "type": str}),
        ("records", "folder that keeps finished runs' records between machines (read first, written last)"),
        ("fork_at", "start every run at this epoch from one official run's state (model, EMA, momentum, "
                    "schedule position), each seed with its own randomness; 0: each from its initialisation"),
        ("fork_seed", "seed of the official run the forks start from"),
        ("precision", "precision of goldyolo's CPU convolutions (the official trainer runs float32)",
         {"choices": ["float32", "bf16"]})],
        config="goldyolo.compare.train_compare:CompareConfig"),
    "compare-precision": Command("goldyolo.compare.precision:compare_precision", "a trained model's deploy "
                                 "outputs and COCO AP with bf16 convolutions against float32", [
        ("weights", "training checkpoint (.pkl) or weights file", {"required": True}),
        ("data", "test COCO json or data.yaml"), IMAGES, ("model", "model of plain weights files", {"choices": MODELS}),
        ("img_size", "square input size"), ("batch_size", "images per batch"),
        ("conf_thres", "the evaluation's score threshold: anchors at or above it in float32 have their boxes compared"),
        ("out", "output json")],
        config="goldyolo.compare.precision:PrecisionConfig"),
    "compare-steps": Command("goldyolo.compare.step_parity:step_parity", "step parity with the official trainer: the "
                             "same batches and weights, loss per step and final weights, with a control run", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("model", "model name", {"choices": MODELS}), ("data", "COCO json"), ("images", "its images"),
        ("init", "initial weights .npz (default: the official initialisation, moved by --control)"),
        ("img_size", "square input size"),
        ("batch_size", "images per step"), ("steps", "steps"), ("steps_per_epoch", "steps per epoch"),
        ("epochs", "epochs of the schedule"), ("warmup_steps", "warm-up steps of both trainers (0: their own)"),
        ("ema_start_updates", "both EMAs start as after this many updates"),
        ("lr_scale", "both trainers' lr0 and warm-up bias lr times this"),
        ("augment", "batches through the training augmentation"),
        ("mosaic", "with mosaic (--no-mosaic: as in the last epochs)"),
        ("control", "weight change of the control run"), ("out", "folder"),
        ("fixture", "also write the official side's compact results to this .npz (tests)")],
        config="goldyolo.compare.step_parity:StepParityConfig"),
    "compare-data": Command("goldyolo.compare.data_parity:data_parity", "goldyolo's training pipeline and the "
                            "official one over the same images: what reaches the loss, as distributions", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("model", "model name (its augmentation settings)", {"choices": MODELS}), ("data", "COCO json"),
        ("images", "its images"), ("img_size", "square input size"), ("passes", "passes over the images"),
        ("mosaic", "the mosaic phase (default: the last epochs' phase, without mosaic)"), ("seed", "seed"),
        ("out", "output folder")],
        config="goldyolo.compare.data_parity:DataParityConfig"),
    "compare-eval": Command("goldyolo.compare.eval_parity:eval_parity", "goldyolo's evaluator and the official "
                            "tools/eval.py on the same weights in each evaluation mode", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("weights", ".npz state dict (official names)", {"required": True}),
        ("model", "model name", {"choices": MODELS}), ("data", "COCO json or data.yaml of the test images"),
        ("images", "its images"), ("img_size", "square input size"), ("batch_size", "images per batch"),
        ("modes", "modes", {"nargs": "+", "choices": ["square", "rect", "reproduce_640"], "type": str}),
        ("profile", "weights name the --reproduce_640_eval profile is chosen by"), ("out", "output folder")],
        config="goldyolo.compare.eval_parity:EvalParityConfig"),
    "parity-report": Command("goldyolo.compare.model_parity:parity_report", "goldyolo's outputs against the official "
                             "model's on the same weights, all four sizes, as the report's json", [
        ("reference", "the shared reference folder (weights.py, keys_*.json)"),
        ("fixtures", "the official outputs (tests/fixtures/official_outputs.npz)"), ("out", "json to write")]),
    "speed-ab": Command("goldyolo.compare.interleave:speed_ab", "Jittor and the official PyTorch model timed "
                        "interleaved (A, B, A, B...) in repeated invocations, with the ratio's interval", [
        ("torch_reference", "Detection/Gold-YOLO of an official checkout", {"metavar": "PATH", "required": True}),
        ("settings", "model:size:batch:mode entries, comma-separated (mode: eval, deploy, train_step)"),
        ("runs", "timed runs per framework and invocation (at least 20)"), ("warmup", "untimed runs first"),
        ("invocations", "fresh sets of worker processes, one after the other"),
        ("pause_ms", "idle milliseconds before each timed run, so that the previous worker's threads settle"),
        ("variants", "what is timed, comma-separated: jittor, jittor-ownconv, jittor-bf16, torch, torch-cl, "
                     "torch-bf16, torch-bf16-cl, ort (ratios are to torch)"),
        ("device", "device", {"choices": DEVICES}), ("seed", "bootstrap seed"), ("out", "results json"),
        ("worker", "internal: serve one variant's timed runs",
         {"choices": ["jittor", "jittor-ownconv", "jittor-bf16", "torch", "torch-cl", "torch-bf16", "torch-bf16-cl",
                      "ort"]}),
        ("setting", "internal: the worker's setting")],
        config="goldyolo.compare.interleave:SpeedABConfig"),
    "eval": Command("goldyolo.eval.evaluate:eval_command", "COCO mAP of trained or converted weights", [
        ("weights", "training checkpoint (.pkl) or converted weights", {"required": True}),
        ("data", "COCO annotation json, or a YOLO-format data.yaml (see --split)", {"required": True}), IMAGES,
        ("model", "model of plain weights files", {"choices": MODELS}), ("img_size", "square input size"),
        ("batch_size", "images per batch"), ("workers", "data loading processes"), ("conf_thres", "score threshold"),
        ("iou_thres", "NMS IoU threshold"), ("out", "output folder (default: eval/ beside the weights)"),
        ("split", "split of a data.yaml", {"choices": ["train", "val", "test"]}),
        ("rect", "the official default: aspect-ratio batches padded by half a stride (the long side can exceed "
                 "--img-size), images loaded at --test-load-size"),
        ("reproduce_640_eval", "the official --reproduce_640_eval: square input, the load size of the weights "
                               "file's profile, integer pad, exact rescaling; conf 0.03, IoU 0.65"),
        ("eval_profile", "profile of --reproduce-640-eval (default: the weights file's name, else 'default')"),
        ("test_load_size", "long side images are loaded at (default: 640 with --rect, as the official "
                           "tools/eval.py; else --img-size)"),
        ("force_no_pad", "--rect without the half-stride pad"),
        ("precision", "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
         {"choices": ["float32", "bf16"]})]),
    "export": Command("goldyolo.models.export:export_command", "the deploy model as ONNX, checked with onnxruntime", [
        ("weights", "training checkpoint (.pkl) or plain weights (with --model)", {"positional": True}),
        ("out", "ONNX file to write (default: beside the weights)"), ("model", "model of plain weights files",
                                                                        {"choices": MODELS}),
        ("img_size", "square input size (the graph's shapes are static)"), ("batch", "images per input"),
        ("format", "export format", {"choices": ["onnx"]}), ("num_classes", "classes of plain weights")]),
    "predict": Command("goldyolo.eval.predict:predict_command", "draw detections on images", [
        ("weights", "training checkpoint (.pkl) or converted weights", {"required": True}),
        ("images", "image files", {"positional": True, "nargs": "+"}), ("out", "output folder", {"required": True}),
        ("model", "model of plain weights files", {"choices": MODELS}), ("img_size", "square input size"),
        ("conf_thres", "score threshold"), ("iou_thres", "NMS IoU threshold"),
        ("data", "data.yaml or COCO json whose class names label the boxes (default: the checkpoint's)"),
        ("save_json", "also write predictions.json: every image's boxes (pixels), scores, classes and names"),
        ("save_txt", "also write labels/NAME.txt per image: 'class cx cy w h score', normalised"),
        ("precision", "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
         {"choices": ["float32", "bf16"]})]),
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
        ("conv", "convolution backend on the CPU", {"choices": ["onednn", "jittor"]}),
        ("precision", "precision of the CPU convolutions (bf16: products in bf16, sums in float32)",
         {"choices": ["float32", "bf16"]}),
        ("train_step", "also time a full training step"), ("warmup", "untimed runs first"), ("runs", "timed runs"),
        ("out", "results json (default runs/bench/MODEL_SIZE.json)"), ("plot", "bar chart (PNG) beside the json"),
        ("profile_layers", "per-module forward times"), ("profile_ops", "kernel time by kind"),
        ("reference", "official timings json (default ../shared/reference/torch_cpu_timings.json)"),
        ("torch_reference", "also time the official PyTorch model: PATH is Detection/Gold-YOLO of an official "
                            "checkout (needs the torch extra)", {"metavar": "PATH"}),
        ("single", "internal: time one setting here", {"choices": ["eval", "deploy", "train_step"]}),
        ("single_torch", "internal: the same for the official model", {"choices": ["eval", "deploy", "train_step"]})],
        config="goldyolo.bench.measure:BenchConfig"),
    "data split": Command("goldyolo.data.split:split_command", "800/200-style train/test split of a COCO json", [
        ("ann", "COCO json to split (e.g. ../shared/coco_subset/instances.json)", {"required": True}),
        ("out", "output folder"), ("test", "number of test images"), ("seed", "random seed"),
        ("any_source", "draw test images from all images, not only those with official annotations")]),
    "data classes": Command("goldyolo.data.classes:classes_command", "a COCO json restricted to some categories "
                            "(e.g. person alone): a smaller task", [
        ("ann", "COCO json files (e.g. data/splits/train.json data/splits/test.json)",
         {"nargs": "+", "required": True, "type": str}),
        ("classes", "category names, in the class order wanted", {"nargs": "+", "required": True, "type": str}),
        ("out", "output json for one file, else a folder that receives each file under its own name",
         {"required": True}),
        ("keep_empty", "keep the images without a chosen category (they train as background)")]),
    "data sample": Command("goldyolo.data.sample:sample_command", "small train/test sample (data/sample) of a split", [
        ("train", "training split json"), ("test", "test split json"),
        ("images", "image folder of the splits", {"required": True}), ("out", "output folder"),
        ("n_train", "training images"), ("n_test", "test images"), ("max_kb", "largest image file taken, in kB")]),
    "setup cuda": Command("goldyolo.setup.command:setup_cuda", "set Jittor up for CUDA 13 / cuDNN 9 and check it "
                          "(changes the installed Jittor; --undo reverses it)", [
        ("undo", "remove the fixes, the CUDA home and the settings"), ("nvcc", "nvcc to use (default: found)"),
        ("check", "the GPU check in a fresh process")]),
    "data to-yolo": Command("goldyolo.data.yolo_format:coco_to_yolo", "COCO json train/val -> the YOLO layout "
                            "(images/, labels/, data.yaml)", [
        ("train_data", "training COCO json", {"required": True}),
        ("val_data", "validation COCO json", {"required": True}),
        ("out", "output folder", {"required": True}), ("images", "images of --train-data"),
        ("val_images", "images of --val-data"), ("copy", "copy the images instead of linking them")]),
    "data to-coco": Command("goldyolo.data.yolo_source:yolo_to_coco", "one split of a YOLO data.yaml -> COCO json", [
        ("data", "data.yaml", {"positional": True}), ("split", "split", {"choices": ["train", "val", "test"]}),
        ("out", "json to write (default: SPLIT.json beside the yaml)")]),
    "data coco": Command("goldyolo.data.download:fetch_coco", "download COCO val2017 images and annotations",
                         [("root", "folder for the zips and the extracted data", {"required": True})]),
}
