"""The official PyTorch Gold-YOLO, timed like the Jittor model (``bench --torch-reference PATH``).

PATH is the ``Detection/Gold-YOLO`` folder of a checkout of ``huawei-noah/Efficient-Computing``;
nothing of it is copied here. Each setting runs in a fresh ``python -m goldyolo bench
--single-torch MODE`` process that puts PATH on ``sys.path`` and builds the model with the
official code (``Config.fromfile(configs/MODEL.py)``, ``training_mode`` defaulting to ``repvgg``
as ``tools/train.py`` does, ``build_model(cfg, 80, device)``). Modes:

* ``eval``: the training form in eval mode, under ``torch.inference_mode()``;
* ``deploy``: ``fuse_model(model).eval()``, ``switch_to_deploy(model)``, ``.eval()`` (the official
  evaluation path), under ``torch.inference_mode()``;
* ``train_step``: ``model.train()``, then ``zero_grad``, forward, the official
  ``yolov6.models.losses.loss.ComputeLoss`` (the one the official trainer uses for every config,
  with the config's head settings) on the targets of :func:`goldyolo.bench.synthetic.synthetic_targets`,
  backward and the official SGD (``yolov6.solver.build.build_optimizer``) step.

The input is uniform random, as on the Jittor side. PyTorch gets the thread count Jittor's OpenMP
uses (``OMP_NUM_THREADS``, else the usable cores). The times come from
:func:`goldyolo.bench.timing.time_runs` with a sync that is a no-op on the CPU (PyTorch's CPU ops are
synchronous) and ``torch.cuda.synchronize`` on CUDA. This child imports goldyolo, hence Jittor,
as the Jittor child does, so both start from the same interpreter baseline.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict

from ..bench.timing import peak_rss_kib, precision_name, summarize, time_runs
from ..errors import InputNotFoundError

NUM_CLASSES = 80
# files of the official folder this module uses, besides configs/MODEL.py
OFFICIAL_FILES = ("yolov6/models/yolo.py", "yolov6/utils/config.py", "yolov6/utils/torch_utils.py",
                  "yolov6/models/losses/loss.py", "yolov6/solver/build.py", "gold_yolo/switch_tool.py")


def check_checkout(path: str, model_name: str) -> Path:
    """``path`` as a Path when it holds the official files for ``model_name``; otherwise
    InputNotFoundError (a FileNotFoundError) naming the path and the first missing file."""
    root = Path(path)
    if not root.is_dir():
        raise InputNotFoundError(f"--torch-reference {path}: no such folder (pass the Detection/Gold-YOLO "
                                "folder of a huawei-noah/Efficient-Computing checkout)")
    for name in (f"configs/{model_name}.py",) + OFFICIAL_FILES:
        if not (root / name).is_file():
            raise InputNotFoundError(f"--torch-reference {path}: {name} is missing, so this is not the official "
                                    "Gold-YOLO folder (Detection/Gold-YOLO of huawei-noah/Efficient-Computing)")
    return root


def jittor_threads() -> int:
    """The OpenMP thread count Jittor runs with: ``OMP_NUM_THREADS``, else the usable cores."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else len(os.sched_getaffinity(0))


def torch_sync(device: str) -> Callable[..., None]:
    """A sync for :func:`time_runs`: ``torch.cuda.synchronize`` on CUDA, a no-op on the CPU."""
    import torch

    def sync(output: Any = None) -> None:
        if device == "cuda":
            torch.cuda.synchronize()
    return sync


def official_model(root: Path, model_name: str, device: str):
    """(config, model, shims): the model built by the official code in ``root`` and the mmcv
    stand-in names installed for it (see :mod:`goldyolo.compare.mmcv_shim`)."""
    from .mmcv_shim import install_if_missing
    shims = install_if_missing()
    sys.path.insert(0, str(root))
    from yolov6.models.yolo import build_model
    from yolov6.utils.config import Config
    cfg = Config.fromfile(str(root / "configs" / f"{model_name}.py"))
    if not hasattr(cfg, "training_mode"):
        cfg.training_mode = "repvgg"
    return cfg, build_model(cfg, NUM_CLASSES, device), shims


def train_step_fn(cfg, model, images, amp: bool = False, bf16: bool = False) -> Callable[[], Any]:
    """One official training step (zero_grad, forward, ComputeLoss, backward, SGD step, EMA update: the
    official trainer's step when the optimizer steps, as goldyolo's bench times its trainer's); with ``amp``
    the official engine's autocast and GradScaler; with ``bf16`` CPU autocast to bfloat16 (no scaler needed)."""
    import torch
    from yolov6.models.losses.loss import ComputeLoss
    from yolov6.solver.build import build_optimizer
    from yolov6.utils.ema import ModelEMA

    from ..bench.synthetic import synthetic_targets
    head = cfg.model.head
    targets = torch.from_numpy(synthetic_targets(images.shape[0], NUM_CLASSES)).float().to(images.device)
    loss_fn = ComputeLoss(num_classes=NUM_CLASSES, ori_img_size=images.shape[-1], warmup_epoch=head.atss_warmup_epoch,
                          use_dfl=head.use_dfl, reg_max=head.reg_max, iou_type=head.iou_type, fpn_strides=head.strides)
    optimizer = build_optimizer(cfg, model)
    scaler = torch.amp.GradScaler(images.device.type, enabled=amp)
    ema = ModelEMA(model)
    model.train()

    def step():
        optimizer.zero_grad()
        with torch.autocast(images.device.type, dtype=torch.bfloat16 if bf16 else torch.float16, enabled=amp or bf16):
            preds, _ = model(images)
            loss, _ = loss_fn(preds, targets, 0, 1)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        ema.update(model)
        return loss
    return step


def measure_torch(path: str, model_name: str, img_size: int, batch: int, mode: str, warmup: int, runs: int,
                  device: str = "cpu", fp16: bool = False) -> Dict:
    """Time one setting of the official model in this process (the keys of :func:`goldyolo.bench.measure.measure`)."""
    import torch
    root = check_checkout(path, model_name)
    threads = jittor_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rss_before = peak_rss_kib()
    cfg, model, shims = official_model(root, model_name, device)
    if mode == "deploy":
        from gold_yolo.switch_tool import switch_to_deploy
        from yolov6.utils.torch_utils import fuse_model
        model = switch_to_deploy(fuse_model(model).eval()).eval()
    images = torch.rand(batch, 3, img_size, img_size, device=device)
    if fp16 and mode != "train_step":
        model, images = model.half(), images.half()
    rss_model = peak_rss_kib()
    sync = torch_sync(device)
    if mode == "train_step":
        times = time_runs(train_step_fn(cfg, model, images, amp=fp16), runs, warmup, sync)["times_ms"]
    else:
        model.eval()
        with torch.inference_mode():
            times = time_runs(lambda: model(images), runs, warmup, sync)["times_ms"]
    stats = summarize(times)
    return {"implementation": "official PyTorch", "official_code": str(root.resolve()), "model": model_name,
            "img_size": img_size, "batch": batch, "mode": mode, "device": device,
            "precision": precision_name(mode, fp16), "warmup": warmup, "runs": runs,
            "times_ms": times, "stats_ms": stats, "images_per_s": batch * 1e3 / stats["median"],
            "params_total": sum(p.numel() for p in model.parameters()), "torch_version": torch.__version__,
            "torch_num_threads": torch.get_num_threads(), "threads_rule": "torch.set_num_threads(n), n = Jittor's "
            "OpenMP threads (OMP_NUM_THREADS, else the usable cores)", "shims": shims,
            "memory": {"rss_before_model_kib": rss_before, "rss_after_model_kib": rss_model,
                       "peak_rss_kib": peak_rss_kib()}, "load_average_1_5_15": list(os.getloadavg())}

