"""Over-fit proof: Gold-YOLO-N from scratch on 16 images, evaluated on the same images.

Settings that differ from a normal run, and why: augmentation off (the task is to memorise),
accumulation to the batch itself and no warm-up (16 images give one step per epoch, so the
official 64-image nominal batch and 1,000-step warm-up would leave almost no real updates), and the
config's lr0 taken as it is (``bs_per_gpu`` = the batch, so Q18's batch rescaling is 1).
Everything else (model, loss, assigner, SGD, cosine schedule, EMA, evaluation) is the official one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict

from .trainer import TrainConfig, Trainer, portable_config


def overfit_config(data: str, images: str, out: str, epochs: int = 400, images_used: int = 16,
                   img_size: int = 320, seed: int = 0) -> TrainConfig:
    return TrainConfig(model="gold_yolo-n", data=data, images=images, out=out, img_size=img_size, epochs=epochs,
                       batch_size=images_used, augment=False, subset=images_used, eval_interval=25, seed=seed,
                       nominal_batch=images_used, bs_per_gpu=images_used, min_warmup_steps=0,
                       solver={"warmup_epochs": 0.0})


LOSS_LABELS = {"loss": "total", "iou_loss": "IoU", "cls_loss": "class", "dfl_loss": "DFL"}


def plot_curves(metrics_file: Path, target: Path) -> None:
    """Loss components and AP50 per epoch from a run's metrics.jsonl."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, label in LOSS_LABELS.items():
        if any(r[key] for r in rows):  # the DFL term is off for the N model (zero throughout)
            left.plot(epochs, [r[key] for r in rows], label=label)
    left.set_xlabel("epoch")
    left.set_title("training loss")
    left.legend()
    evaluated = [r for r in rows if "AP50" in r]
    right.plot([r["epoch"] for r in evaluated], [r["AP50"] for r in evaluated], "o-", label="AP50")
    right.plot([r["epoch"] for r in evaluated], [r["AP"] for r in evaluated], "s-", label="AP")
    right.axhline(0.5, color="gray", ls="--", lw=1)
    right.set_xlabel("epoch")
    right.set_title("COCO AP on the training images (EMA)")
    right.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


def run_overfit(config: TrainConfig) -> Dict:
    """Train, then write summary.json and curves.png into the run folder."""
    start = time.time()
    metrics = Trainer(config).run()
    out = Path(config.out)
    summary = {"final": metrics, "wall_time_s": time.time() - start, "config": portable_config(config)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    try:
        plot_curves(out / "metrics.jsonl", out / "curves.png")
    except ImportError:
        print("matplotlib is not installed: curves.png not drawn")
    return summary


def overfit_command(data: str, images: str = "", out: str = "runs/overfit", epochs: int = 400, num_images: int = 16,
                    img_size: int = 320, seed: int = 0) -> str:
    """``overfit``: train, then return the final AP line."""
    summary = run_overfit(overfit_config(data, images, out, epochs, num_images, img_size, seed))
    final = summary["final"]
    return (f"over-fit: AP50 {final.get('AP50', 0):.3f}, AP {final.get('AP', 0):.3f} after {epochs} epochs "
            f"in {summary['wall_time_s'] / 60:.1f} min; curves in {out}/curves.png")
