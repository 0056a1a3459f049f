"""Command line: ``python -m goldyolo {info,convert} ...``."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .config import CONFIGS


def _layer_rows(model, depth: int) -> List[tuple]:
    """(name, type, parameters) of every module down to ``depth`` dots."""
    from .info import BUFFER_SUFFIXES
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
    from .fuse import fuse
    from .info import model_info
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
    from .fuse import fuse
    from .info import model_info
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
    from .checkpoint import load_state_dict_strict, save_weights
    from .fuse import fuse
    from .models import build_model
    from .official import load_official_checkpoint
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m goldyolo",
                                     description="Gold-YOLO in Jittor: model information and checkpoint tools.")
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
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``python -m goldyolo``."""
    from .checkpoint import UnsafeCheckpointError
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, KeyError, UnsafeCheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
