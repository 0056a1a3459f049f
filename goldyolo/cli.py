"""Command line: ``python -m goldyolo {info,convert} ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .config import CONFIGS


def _layer_rows(model, depth: int) -> List[tuple]:
    """(name, type, parameters) of every module down to ``depth`` dots."""
    from .models.info import BUFFER_SUFFIXES
    state = model.state_dict()
    rows = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue
        count = sum(v.numel() for k, v in state.items()
                    if k.startswith(name + ".") and not k.endswith(BUFFER_SUFFIXES))
        rows.append((name, type(module).__name__, int(count)))
    return rows


def cmd_info(args: argparse.Namespace) -> int:
    from .models.fuse import fuse
    from .models.info import model_info
    from .models import build_model
    model = build_model(args.model, num_classes=args.num_classes)
    train_info = model_info(model, args.img_size)
    print(f"{args.model} ({args.num_classes} classes) at {args.img_size}x{args.img_size}")
    print(f"  training form: {train_info.params:,} parameters ({train_info.params_trainable:,} trainable), "
          f"{train_info.gflops:.2f} GFLOPs   [{train_info}]")
    if args.layers:
        print(f"\n{'module':48s} {'type':28s} {'params':>12s}")
        for name, kind, count in _layer_rows(model, args.depth):
            print(f"{'  ' * name.count('.') + name:48s} {kind:28s} {count:12,d}")
    deploy_info = model_info(fuse(model), args.img_size)
    print(f"  deploy form:   {deploy_info.params:,} parameters, {deploy_info.gflops:.2f} GFLOPs   [{deploy_info}]")
    paper = CONFIGS[model.config.name].paper
    if paper:
        print(f"  paper:         {paper['params_M']} M parameters, {paper['gflops']} GFLOPs, COCO AP {paper['ap']}")
    return 0


def model_table(img_size: int = 640) -> str:
    """Markdown table of the four models: counts from the code, next to the paper's numbers."""
    from .models.fuse import fuse
    from .models.info import model_info
    from .models import build_model
    lines = [f"| model | params (M) | GFLOPs ({img_size}) | training-form params (M) | paper params (M) "
             "| paper GFLOPs | paper COCO AP |",
             "|---|---|---|---|---|---|---|"]
    for name, config in CONFIGS.items():
        model = build_model(name)
        train = model_info(model, img_size)
        deploy = model_info(fuse(model), img_size)
        paper = config.paper
        lines.append(f"| {name} | {deploy.params / 1e6:.2f} | {deploy.gflops:.2f} | {train.params / 1e6:.2f} "
                     f"| {paper['params_M']} | {paper['gflops']} | {paper['ap']} |")
    return "\n".join(lines)


def cmd_table(args: argparse.Namespace) -> int:
    print(model_table(args.img_size))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .models.checkpoint import load_state_dict_strict, save_weights
    from .models.fuse import fuse
    from .models import build_model
    from .models.official import load_official_checkpoint
    state = load_official_checkpoint(args.source)
    num_classes = args.num_classes
    if num_classes is None:
        num_classes = int(state["detect.cls_preds.0.bias"].shape[0]) if "detect.cls_preds.0.bias" in state else 80
    model = build_model(args.model, num_classes=num_classes)
    deploy = any(".rbr_reparam." in key for key in state)
    if deploy:
        fuse(model)
    load_state_dict_strict(model, state)
    save_weights(model, args.output)
    form = "deploy" if deploy else "training"
    print(f"converted {args.source} -> {args.output}: {args.model}, {form} form, {num_classes} classes, "
          f"{len(state)} tensors")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .engine.trainer import TrainConfig, Trainer
    solver = {k: v for k, v in (("lr0", args.lr0), ("warmup_epochs", args.warmup_epochs)) if v is not None}
    config = TrainConfig(model=args.model, data=args.data, images=args.images or "", val_data=args.val_data or "",
                         val_images=args.val_images or "", out=args.out, img_size=args.img_size, epochs=args.epochs,
                         batch_size=args.batch_size, workers=args.workers, seed=args.seed, device=args.device,
                         augment=not args.no_augment, subset=args.subset, eval_interval=args.eval_interval,
                         nominal_batch=args.nominal_batch or 64, min_warmup_steps=args.min_warmup_steps,
                         amp=args.amp, solver=solver)
    Trainer(config, resume=args.resume).run()
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from .bench.soak import plot_soak, soak
    from .engine.trainer import TrainConfig
    config = TrainConfig(model=args.model, data=args.data, images=args.images or "", out=args.out,
                         img_size=args.img_size, batch_size=args.batch_size, seed=args.seed, device=args.device,
                         stop_aug_last_n_epoch=0)
    result = soak(config, args.iterations, every=args.every, warmup_fraction=args.warmup_fraction,
                  tolerance_mib_per_1000=args.tolerance)
    plot_soak(result, Path(args.out) / "soak.png")
    summary = result["summary"]
    print(f"{args.iterations} iterations: RSS {summary['rss_start_mib']:.0f} MiB at start, "
          f"{summary['rss_after_warmup_mib']:.0f} after {summary['warmup_iterations']} (warm-up), "
          f"{summary['rss_end_mib']:.0f} at the end; slope after warm-up "
          f"{summary['rss_slope_mib_per_1000_iterations']:+.1f} MiB per 1,000 iterations "
          f"(tolerance {args.tolerance}); live Jittor variables {summary['live_vars_after_warmup']}; "
          f"{'flat' if summary['flat'] else 'NOT flat'}")
    return 0 if summary["flat"] else 1


def cmd_data_split(args: argparse.Namespace) -> int:
    import json
    from .data.split import write_splits
    summary = write_splits(args.ann, args.out, args.test, args.seed, None if args.any_source else "coco_json")
    for name in ("train", "test"):
        print(f"{name}: {summary[name]['images']} images, {summary[name]['annotations']} boxes "
              f"(+{summary[name]['crowd_annotations']} crowd), sources {json.dumps(summary[name]['ann_source'])}")
    print(f"written to {args.out}/train.json, test.json and summary.json")
    return 0


def cmd_data_sample(args: argparse.Namespace) -> int:
    from .data.sample import make_sample
    ids = make_sample(args.train, args.test, args.images, args.out, args.n_train, args.n_test, args.max_kb * 1000)
    for name, chosen in ids.items():
        print(f"{name}: {len(chosen)} images, ids {chosen}")
    print(f"written to {args.out}/train.json, test.json and images/")
    return 0


def cmd_data_coco(args: argparse.Namespace) -> int:
    from pathlib import Path
    from .data.download import ARCHIVES, fetch_archive
    for archive in ARCHIVES:
        print(fetch_archive(archive, Path(args.root)))
    return 0


def cmd_overfit(args: argparse.Namespace) -> int:
    from .engine.overfit import overfit_config, run_overfit
    config = overfit_config(args.data, args.images or "", args.out, args.epochs, args.num_images, args.img_size,
                            args.seed)
    summary = run_overfit(config)
    final = summary["final"]
    print(f"over-fit: AP50 {final.get('AP50', 0):.3f}, AP {final.get('AP', 0):.3f} after {args.epochs} epochs "
          f"in {summary['wall_time_s'] / 60:.1f} min; curves in {args.out}/curves.png")
    return 0


def _model_and_names(weights: str, model_name: str | None, source=None):
    from .models.checkpoint import load_weights, read_checkpoint
    from .models import build_model
    from .engine.trainer import CHECKPOINT_FORMAT, model_from_checkpoint
    state = read_checkpoint(weights)
    if isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT:
        return model_from_checkpoint(state), state["names"]
    if not model_name:
        raise ValueError(f"{weights}: plain weights need --model")
    names = source.names if source is not None else [str(i) for i in range(80)]
    return load_weights(build_model(model_name, num_classes=len(names)), weights), names


def cmd_eval(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path
    from .data import CocoSource
    from .eval.evaluate import evaluate
    images = Path(args.images) if args.images else Path(args.data).parent / "images"
    source = CocoSource(Path(args.data), images)
    print(f"{args.data}: {len(source.records)} images; {source.report.summary()}")
    model, _ = _model_and_names(args.weights, args.model, source)
    out = Path(args.out) if args.out else Path(args.weights).parent / "eval"
    metrics = evaluate(model, source, args.img_size, args.batch_size, args.workers, args.conf_thres,
                       args.iou_thres, out_dir=out, progress=True)
    print("\n".join(metrics.get("summary", [])))
    print(json.dumps({k: metrics[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl")}))
    print(f"metrics and predictions written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .eval.predict import predict_files
    model, names = _model_and_names(args.weights, args.model)
    written = predict_files(model, args.images, args.out, names, args.img_size, args.conf_thres, args.iou_thres)
    print(f"{len(written)} images written to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path
    from .study.report import ReportError, build_report, find_notebooks, skip_all_but
    from .runtime import tolerate_child_deaths
    tolerate_child_deaths()  # a crashed kernel or training run is reported, not fatal to the build
    try:
        stems = [path.stem for path in find_notebooks(Path("notebooks"))]
        skip = skip_all_but(stems, args.only.split(",")) if args.only else []
        html = build_report(args.profile, skip=skip, pdf=not args.no_pdf, train=not args.no_train)
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report written to {html}" + ("" if args.no_pdf else f" and {html.with_suffix('.pdf')}"))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.measure import cmd_bench as run_bench
    return run_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m goldyolo",
                                     description="Gold-YOLO in Jittor: train, evaluate, predict, inspect and convert.")
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="parameters, GFLOPs and layer summary of a model",
                               description="Print parameter counts and GFLOPs (official thop method) of a "
                                           "model in training and deploy form, and its layer summary.")
    info.add_argument("model", choices=sorted(CONFIGS), help="model name")
    info.add_argument("--img-size", type=int, default=640, help="square input size for GFLOPs (default 640)")
    info.add_argument("--num-classes", type=int, default=80, help="number of classes (default 80)")
    info.add_argument("--depth", type=int, default=2, help="module depth of the layer summary (default 2)")
    info.add_argument("--no-layers", dest="layers", action="store_false", help="skip the layer summary")
    info.set_defaults(func=cmd_info)

    table = commands.add_parser("table", help="markdown table of all models (README)",
                                description="Print the model table of README.md: deploy-form parameters and "
                                            "GFLOPs counted by this code, beside the paper's numbers.")
    table.add_argument("--img-size", type=int, default=640, help="square input size for GFLOPs (default 640)")
    table.set_defaults(func=cmd_table)

    train = commands.add_parser("train", help="train a model on COCO-format data",
                                description="Train with the official loss, solver and augmentation; writes "
                                            "metrics.jsonl, last.pkl and best.pkl to --out; --resume continues it.")
    train.add_argument("--model", default="gold_yolo-s", choices=sorted(CONFIGS))
    train.add_argument("--data", required=True, help="COCO annotation json of the training images")
    train.add_argument("--images", help="image folder (default: 'images' beside the json)")
    train.add_argument("--val-data", help="COCO json for evaluation (default: the training data)")
    train.add_argument("--val-images", help="image folder of --val-data")
    train.add_argument("--img-size", type=int, default=640)
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=16)
    train.add_argument("--workers", type=int, default=0, help="data loading processes (default 0)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    train.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                       help="float16 mixed precision with loss scaling (default: on for cuda, off for cpu, "
                            "as the official trainer; Jittor's float16 CPU kernels are incomplete)")
    train.add_argument("--out", default="runs/train", help="run folder")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from last.pkl")
    train.add_argument("--no-augment", action="store_true", help="letterbox only (no mosaic/affine/HSV/flip)")
    train.add_argument("--subset", type=int, default=0, help="use only the first N images")
    train.add_argument("--eval-interval", type=int, default=1, help="evaluate every N epochs (and the last)")
    train.add_argument("--lr0", type=float, help="initial learning rate (default: the model config)")
    train.add_argument("--warmup-epochs", type=float, help="warm-up epochs (default 3)")
    train.add_argument("--min-warmup-steps", type=int, default=1000, help="official minimum warm-up iterations")
    train.add_argument("--nominal-batch", type=int, help="batch size gradients accumulate to (default 64)")
    train.set_defaults(func=cmd_train)

    soak_cmd = commands.add_parser("soak", help="memory steadiness over a long run of training steps",
                                   description="Train for --iterations steps (mosaic on, no evaluation) and sample "
                                               "resident memory and live Jittor variables; writes soak.json and "
                                               "soak.png to --out; exits 1 when memory is not flat after warm-up.")
    soak_cmd.add_argument("--model", default="gold_yolo-n", choices=sorted(CONFIGS))
    soak_cmd.add_argument("--data", required=True, help="COCO annotation json of the training images")
    soak_cmd.add_argument("--images", help="image folder (default: 'images' beside the json)")
    soak_cmd.add_argument("--img-size", type=int, default=320)
    soak_cmd.add_argument("--batch-size", type=int, default=8)
    soak_cmd.add_argument("--iterations", type=int, default=2000)
    soak_cmd.add_argument("--every", type=int, default=20, help="sample memory every N iterations (default 20)")
    soak_cmd.add_argument("--warmup-fraction", type=float, default=0.25,
                          help="leading part of the run left out of the verdict (default 0.25)")
    soak_cmd.add_argument("--tolerance", type=float, default=10.0,
                          help="largest RSS slope called flat, MiB per 1,000 iterations (default 10)")
    soak_cmd.add_argument("--seed", type=int, default=0)
    soak_cmd.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    soak_cmd.add_argument("--out", default="runs/soak", help="output folder")
    soak_cmd.set_defaults(func=cmd_soak)

    data = commands.add_parser("data", help="dataset tools", description="Dataset tools.")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    split = data_commands.add_parser("split", help="800/200-style train/test split of a COCO json",
                                     description="Draw the test images (fixed seed) from the images with official "
                                                 "COCO annotations (ann_source == coco_json); all others train. "
                                                 "Writes train.json, test.json and summary.json.")
    split.add_argument("--ann", required=True, help="COCO json to split (e.g. ../shared/coco_subset/instances.json)")
    split.add_argument("--out", default="data/splits", help="output folder (default data/splits)")
    split.add_argument("--test", type=int, default=200, help="number of test images (default 200)")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--any-source", action="store_true", help="draw test images from all images")
    split.set_defaults(func=cmd_data_split)
    sample = data_commands.add_parser("sample", help="small train/test sample (data/sample) of a split",
                                      description="Copy the first images by id that have a non-crowd box and a "
                                                  "small file from each split, with complete COCO json files "
                                                  "(all categories kept): train.json, test.json and images/.")
    sample.add_argument("--train", default="data/splits/train.json", help="training split json")
    sample.add_argument("--test", default="data/splits/test.json", help="test split json")
    sample.add_argument("--images", required=True, help="image folder of the splits (../shared/coco_subset/images)")
    sample.add_argument("--out", default="data/sample", help="output folder (default data/sample)")
    sample.add_argument("--n-train", type=int, default=24, help="training images (default 24)")
    sample.add_argument("--n-test", type=int, default=8, help="test images (default 8)")
    sample.add_argument("--max-kb", type=int, default=200, help="largest image file taken, in kB (default 200)")
    sample.set_defaults(func=cmd_data_sample)
    coco = data_commands.add_parser("coco", help="download COCO val2017 images and annotations",
                                    description="Download val2017.zip and annotations_trainval2017.zip from "
                                                "images.cocodataset.org into --root (resumable), check their md5 "
                                                "and extract ROOT/val2017/ and ROOT/annotations/"
                                                "instances_val2017.json; what is present is skipped.")
    coco.add_argument("--root", required=True, help="folder for the zips and the extracted data")
    coco.set_defaults(func=cmd_data_coco)

    of = commands.add_parser("overfit", help="over-fit proof: gold_yolo-n on 16 images",
                             description="Train gold_yolo-n from scratch on the first images of --data at 320 px "
                                         "without augmentation and evaluate on the same images (see "
                                         "goldyolo/overfit.py for the settings and why).")
    of.add_argument("--data", required=True, help="COCO annotation json")
    of.add_argument("--images", help="image folder (default: 'images' beside the json)")
    of.add_argument("--out", default="runs/overfit")
    of.add_argument("--epochs", type=int, default=400)
    of.add_argument("--num-images", type=int, default=16)
    of.add_argument("--img-size", type=int, default=320)
    of.add_argument("--seed", type=int, default=0)
    of.set_defaults(func=cmd_overfit)

    ev = commands.add_parser("eval", help="COCO mAP of trained or converted weights",
                             description="Batched inference, official NMS (conf 0.03, IoU 0.65, 300 detections), "
                                         "pycocotools COCOeval; writes predictions.json and metrics.json.")
    ev.add_argument("--weights", required=True, help="training checkpoint (.pkl) or converted weights")
    ev.add_argument("--data", required=True, help="COCO annotation json")
    ev.add_argument("--images", help="image folder (default: 'images' beside the json)")
    ev.add_argument("--model", choices=sorted(CONFIGS), help="model of plain weights files")
    ev.add_argument("--img-size", type=int, default=640)
    ev.add_argument("--batch-size", type=int, default=16)
    ev.add_argument("--workers", type=int, default=0)
    ev.add_argument("--conf-thres", type=float, default=0.03)
    ev.add_argument("--iou-thres", type=float, default=0.65)
    ev.add_argument("--out", help="output folder (default: eval/ beside the weights)")
    ev.set_defaults(func=cmd_eval)

    pr = commands.add_parser("predict", help="draw detections on images",
                             description="Run a model on image files and write them with boxes drawn.")
    pr.add_argument("--weights", required=True)
    pr.add_argument("images", nargs="+", help="image files")
    pr.add_argument("--out", required=True, help="output folder")
    pr.add_argument("--model", choices=sorted(CONFIGS), help="model of plain weights files")
    pr.add_argument("--img-size", type=int, default=640)
    pr.add_argument("--conf-thres", type=float, default=0.25)
    pr.add_argument("--iou-thres", type=float, default=0.45)
    pr.set_defaults(func=cmd_predict)

    rep = commands.add_parser("report", help="execute the notebooks and build the HTML/PDF report",
                              description="Execute notebooks/NN_*.ipynb in order (headless, from the repository "
                                          "root) with the profile's parameters injected, then write one "
                                          "self-contained HTML report and its PDF (headless Chromium). Profile "
                                          "full writes the executed notebooks back into notebooks/ and the report "
                                          "to report/index.{html,pdf}; quick and ci write both under "
                                          "report/<profile>/.")
    rep.add_argument("--profile", choices=["quick", "full", "ci"], default="quick",
                     help="parameter set (goldyolo/profiles.py): quick, full (the committed results) or ci; "
                          "default quick")
    rep.add_argument("--only", help="comma-separated notebook prefixes or names to execute, e.g. 02,03; the others "
                                    "enter the report as their earlier executed copies")
    rep.add_argument("--no-pdf", action="store_true", help="write only the HTML (no Chromium needed)")
    rep.add_argument("--no-train", action="store_true",
                     help="report the training run as it stands (do not run or finish it before notebook 03)")
    rep.set_defaults(func=cmd_report)

    convert = commands.add_parser("convert", help="official PyTorch .pt -> Jittor checkpoint",
                                  description="Read an official Gold-YOLO .pt checkpoint without PyTorch and "
                                              "without running code from it, check every tensor against the "
                                              "model, and write a Jittor checkpoint (Module.load reads it).")
    convert.add_argument("source", help="official checkpoint (.pt)")
    convert.add_argument("output", help="Jittor checkpoint to write (.pkl)")
    convert.add_argument("--model", required=True, choices=sorted(CONFIGS), help="model the checkpoint holds")
    convert.add_argument("--num-classes", type=int, default=None,
                         help="number of classes (default: read from the checkpoint)")
    convert.set_defaults(func=cmd_convert)

    bench = commands.add_parser("bench", help="latency, training-step time and peak memory",
                                description="Time each batch size in a fresh process: warm-up runs (they compile "
                                            "the kernels), then timed runs between full syncs; reports median, "
                                            "mean, min, max, std, p10/p90, images/s and peak RSS, and compares "
                                            "with the official PyTorch CPU timings where the setting matches.")
    bench.add_argument("--model", default="gold_yolo-s", choices=sorted(CONFIGS))
    bench.add_argument("--img-size", type=int, default=640)
    bench.add_argument("--batch", default="1", help="batch sizes, comma-separated (default 1)")
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda: untested")
    bench.add_argument("--fused", action="store_true", help="time the deploy form (goldyolo.fuse)")
    bench.add_argument("--fp16", action="store_true",
                       help="half precision: float16 model and input (eval/deploy), mixed precision (train step)")
    bench.add_argument("--train-step", action="store_true", help="also time a full training step")
    bench.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    bench.add_argument("--runs", type=int, default=10, help="timed runs (default 10)")
    bench.add_argument("--out", help="results json (default runs/bench/MODEL_SIZE.json)")
    bench.add_argument("--plot", action="store_true", help="bar chart (PNG) beside the json")
    bench.add_argument("--profile-layers", action="store_true", help="per-module forward times")
    bench.add_argument("--profile-ops", action="store_true",
                       help="kernel time by kind (oneDNN convolution, BN kernels, Jittor's generated kernels, ...)")
    bench.add_argument("--reference", help="official timings json (default ../shared/reference/torch_cpu_timings.json)")
    bench.add_argument("--torch-reference", metavar="PATH",
                       help="also time the official PyTorch model in each setting, in the same run: PATH is the "
                            "Detection/Gold-YOLO folder of a huawei-noah/Efficient-Computing checkout (needs torch)")
    bench.add_argument("--single", choices=["eval", "deploy", "train_step"],
                       help="internal: time one setting in this process and write it to --out")
    bench.add_argument("--single-torch", choices=["eval", "deploy", "train_step"],
                       help="internal: the same for the official PyTorch model of --torch-reference")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m goldyolo``."""
    from .models.checkpoint import UnsafeCheckpointError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError, OSError, UnsafeCheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
