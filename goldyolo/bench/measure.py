"""``python -m goldyolo bench``: forward latency, training-step time and peak memory.

Each setting (model, size, batch, mode) runs in a fresh ``python -m goldyolo bench --single MODE``
process, because the peak RSS the kernel reports is a maximum over the process's lifetime. A
setting is timed as: build the model, ``warmup`` untimed runs (they compile Jittor's kernels for
the shape), then ``runs`` timed runs, each between two full syncs. Modes: ``eval`` (training form,
eval mode, no gradients), ``deploy`` (the same after :func:`goldyolo.fuse`) and ``train_step``
(the trainer's step: train-mode forward, the official loss, backward, SGD step and EMA update).
``--fp16`` times half precision: the model and input in float16 for ``eval``/``deploy`` (the
official evaluator's ``--half``), the official mixed-precision recipe (:mod:`goldyolo.engine.amp`)
for ``train_step``. ``--conv`` picks the convolution backend (:mod:`goldyolo.ops.conv`: oneDNN with
kept primitives, or Jittor's own) and ``--precision bf16`` computes the oneDNN convolutions in bf16
(float32 everywhere else). With ``--torch-reference PATH`` each setting is then timed for the
official PyTorch model too (:mod:`goldyolo.compare.torch_side`, in a ``--single-torch`` process) and
the ratio of the medians is reported.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..errors import InputError
from ..ops.conv import frozen_weights
from ..runtime import jt, use_cuda
from .profile_ops import onednn_profile, op_profile
from .synthetic import synthetic_targets
from .timing import peak_rss_kib, precision_name, summarize, time_synced

MODES = ("eval", "deploy", "train_step")


@dataclass
class BenchConfig:
    """The settings of one ``bench`` command."""
    model: str = "gold_yolo-s"
    img_size: int = 640
    batch: str = "1"             # batch sizes, comma-separated
    device: str = "cpu"
    fused: bool = False          # time the deploy form
    fp16: bool = False
    conv: str = "onednn"         # convolution backend: onednn or jittor (goldyolo.ops.conv)
    precision: str = "float32"   # the oneDNN convolutions' precision: float32 or bf16
    train_step: bool = False
    warmup: int = 3              # untimed runs first: they compile the kernels
    runs: int = 10
    out: str = ""                # default runs/bench/MODEL_SIZE.json
    plot: bool = False
    profile_layers: bool = False
    profile_ops: bool = False
    reference: Optional[str] = None        # official timings json (default: the shared reference's)
    torch_reference: Optional[str] = None  # Detection/Gold-YOLO of the official checkout
    single: Optional[str] = None           # internal: time this mode here and write --out
    single_torch: Optional[str] = None     # internal: the same for the official PyTorch model


def train_step_fn(model, images: jt.Var, amp: bool = False,
                  targets: Optional[np.ndarray] = None) -> Callable[[], jt.Var]:
    """The trainer's step (:class:`~goldyolo.engine.step.TrainStep`, the official recipe, mixed precision with
    ``amp``) on ``images`` and ``targets`` (default: synthetic ones), with the optimizer and EMA update at every
    call (the nominal batch is the batch, so nothing accumulates); returns a function that takes one step and
    returns its items."""
    from ..engine.step import TrainStep
    from ..engine.trainer import TrainConfig
    batch, size = images.shape[0], images.shape[-1]
    cfg = TrainConfig(model=model.config.name, img_size=size, batch_size=batch, nominal_batch=batch, amp=amp,
                      min_warmup_steps=0)
    targets = synthetic_targets(batch, model.num_classes) if targets is None else targets
    train_step = TrainStep.for_config(model, cfg, steps_per_epoch=1)
    train_step.precision = None  # the convolutions' precision is the one the caller sets around each call
    model.train()
    calls = iter(range(1 << 62))

    def step() -> jt.Var:
        items = train_step(images, targets, epoch=0, step=next(calls))
        if items is None:
            raise FloatingPointError("the benchmark's training step gave a non-finite loss")
        return items
    return step


def measure(model_name: str, img_size: int, batch: int, mode: str, warmup: int, runs: int,
            device: str = "cpu", profile: bool = False, fp16: bool = False, profile_ops: bool = False,
            conv: str = "onednn", precision: str = "float32") -> Dict:
    """Time one setting in this process; returns the times, their summary and the memory."""
    from ..ops.conv import backend, use_backend, use_precision
    with use_backend(conv), use_precision(precision):
        result = _measure(model_name, img_size, batch, mode, warmup, runs, device, profile, fp16, profile_ops)
        result.update(conv=backend(), conv_precision=precision)
    return result


def _measure(model_name: str, img_size: int, batch: int, mode: str, warmup: int, runs: int,
             device: str, profile: bool, fp16: bool, profile_ops: bool) -> Dict:
    from ..models import build_model
    from ..models.fuse import fuse
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {MODES}")
    if device == "cuda":  # not covered by the test suite, which runs on the CPU
        use_cuda()
    rss_before = peak_rss_kib()
    model = build_model(model_name)
    if mode == "deploy":
        fuse(model)
    images = jt.rand(batch, 3, img_size, img_size)
    if fp16 and mode != "train_step":
        model.float16()
        images = images.float16()
    jt.sync_all(True)
    rss_model = peak_rss_kib()
    if mode == "train_step":
        step = train_step_fn(model, images, amp=fp16)
        timing = time_synced(step, runs, warmup)
        ops = dict(op_profile(step, warmup=0), onednn=onednn_profile(step, warmup=0)) if profile_ops else None
    else:
        model.eval()
        with jt.no_grad(), frozen_weights():
            timing = time_synced(lambda: model(images), runs, warmup)
            ops = (dict(op_profile(lambda: model(images), warmup=0), onednn=onednn_profile(lambda: model(images), 0))
                   if profile_ops else None)
    stats = summarize(timing["times_ms"])
    result = {"model": model_name, "img_size": img_size, "batch": batch, "mode": mode, "device": device,
              "precision": precision_name(mode, fp16), "warmup": warmup, "runs": runs, **timing, "stats_ms": stats,
              "images_per_s": batch * 1e3 / stats["median"],
              "memory": {"rss_before_model_kib": rss_before, "rss_after_model_kib": rss_model,
                         "peak_rss_kib": peak_rss_kib()}, "load_average_1_5_15": list(os.getloadavg())}
    if device == "cuda":  # GPU memory as Jittor's allocator counts it (not covered by the CPU test suite)
        info = jt.get_mem_info()
        result["memory"].update(cuda_total_bytes=int(info.total_cuda_ram), cuda_used_bytes=int(info.total_cuda_used))
    if ops is not None:
        result["ops"] = ops
    if profile and mode != "train_step":
        from .profile_layers import layer_profile
        result["layers"] = [row.as_dict() for row in layer_profile(model, images, warmup=1, runs=max(1, min(runs, 3)))]
    return result


def settings(batches: List[int], fused: bool, train_step: bool) -> List[tuple]:
    """(batch, mode) pairs in run order."""
    modes = ["deploy" if fused else "eval"] + (["train_step"] if train_step else [])
    return [(batch, mode) for batch in batches for mode in modes]


def run_child(args: BenchConfig, batch: int, mode: str, official: bool = False) -> Dict:
    """Measure one setting in a fresh ``python -m goldyolo bench --single`` process (with ``official``:
    ``--single-torch``, the official PyTorch model of ``--torch-reference``)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", "goldyolo", "bench", "--single-torch" if official else "--single", mode,
                   "--model", args.model, "--img-size", str(args.img_size), "--batch", str(batch),
                   "--warmup", str(args.warmup), "--runs", str(args.runs), "--device", args.device, "--out", str(out)]
        if not official:
            command += ["--conv", args.conv, "--precision", args.precision]
        if args.fp16:
            command.append("--fp16")
        if official:
            command += ["--torch-reference", args.torch_reference]
        elif args.profile_layers:
            command.append("--profile-layers")
        if args.profile_ops and not official:
            command.append("--profile-ops")
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            return {"model": args.model, "img_size": args.img_size, "batch": batch, "mode": mode,
                    "error": (done.stderr or done.stdout)[-2000:]}
        return json.loads(out.read_text())


def bench_command(args: BenchConfig) -> int:
    """``bench``: one setting (``single``) or all of them, each in a child process; 1 when one failed."""
    from ..utils.machine import environment
    from .plots import plot
    from .tables import format_layers, format_ops, format_table, reference_comparison, with_torch
    batches = [int(b) for b in str(args.batch).split(",") if b.strip()]
    if args.single or args.single_torch:
        if not args.out:
            raise InputError("--single and --single-torch need --out (the json they write)")
        if args.single_torch:
            if not args.torch_reference:
                raise InputError("--single-torch needs --torch-reference PATH (the official code)")
            from ..compare.torch_side import measure_torch
            result = measure_torch(args.torch_reference, args.model, args.img_size, batches[0], args.single_torch,
                                   args.warmup, args.runs, args.device, args.fp16)
        else:
            result = measure(args.model, args.img_size, batches[0], args.single, args.warmup, args.runs,
                             args.device, args.profile_layers, args.fp16, args.profile_ops, args.conv, args.precision)
        Path(args.out).write_text(json.dumps(result, indent=1))
        return 0
    if args.torch_reference:
        from ..compare.torch_side import check_checkout
        check_checkout(args.torch_reference, args.model)
    from ..runtime import tolerate_child_deaths
    tolerate_child_deaths()  # a crashed measurement is recorded as an error, not fatal to the others
    out = Path(args.out or f"runs/bench/{args.model}_{args.img_size}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    measurements = []
    for batch, mode in settings(batches, args.fused, args.train_step):
        print(f"timing {args.model} {args.img_size}px batch {batch} {mode} ...", flush=True)
        measurement = run_child(args, batch, mode)
        if args.torch_reference:
            print(f"timing the official PyTorch {args.model} {args.img_size}px batch {batch} {mode} ...", flush=True)
            measurement = with_torch(measurement, run_child(args, batch, mode, official=True))
        measurements.append(measurement)
    report = {"settings": {k: getattr(args, k) for k in ("model", "img_size", "device", "fused", "fp16", "conv",
                                                          "precision", "train_step", "warmup", "runs",
                                                          "profile_layers", "profile_ops", "torch_reference")},
              **environment(), "measurements": measurements,
              "reference": reference_comparison(measurements, args.reference)}
    report["settings"]["batches"] = batches
    out.write_text(json.dumps(report, indent=1))
    print(format_table(report))
    for m in measurements:
        if m.get("layers"):
            print(format_layers(m))
        if m.get("ops"):
            print(format_ops(m))
    if args.plot:
        print(f"plot: {plot(report, out.with_suffix('.png'))}")
    print(f"results: {out}")
    return 1 if any("error" in m or "error" in m.get("torch", {}) for m in measurements) else 0
