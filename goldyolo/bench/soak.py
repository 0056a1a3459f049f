"""Memory steadiness: a long run of real training steps with host memory and Jittor's live
variables sampled along the way.

A leak in the training loop shows up two ways: the number of live Jittor variables grows (a
Python object keeps a graph alive, e.g. a list of losses), or resident memory climbs without
bound. Early growth is expected and is not a leak: Jittor's allocator keeps freed blocks for
reuse and each new tensor shape (the assigner's tensors follow the most boxes in a batch) loads a
kernel library, so both level off once the shapes seen repeat. The verdict therefore looks only
at the part of the run after a warm-up fraction.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..engine.trainer import TrainConfig, Trainer
from ..runtime import jt
from ..utils.machine import environment, hardware, portable_path
from .plots import plot_soak
from .timing import loaded_kernels


def current_rss_mib() -> float:
    """Resident set size of this process now, in MiB (``/proc/self/statm``)."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def sample_memory(iteration: int, start: float) -> Dict:
    """One sample: iteration, seconds since ``start``, RSS, what Jittor's allocators hold (in use
    and cached for reuse), live Jittor variables, kernels loaded."""
    jt.sync_all(True)
    return {"iteration": iteration, "seconds": time.time() - start, "rss_mib": current_rss_mib(),
            "jittor_allocated_mib": jt.get_mem_info().total_cpu_used / 2**20,
            "live_vars": int(jt.liveness_info()["lived_vars"]), "kernels": loaded_kernels()}


def summarize_samples(samples: List[Dict], warmup_fraction: float, tolerance_mib_per_1000: float) -> Dict:
    """Growth after the warm-up: RSS slope (least squares, MiB per 1,000 iterations), RSS change,
    live-variable range. ``flat`` holds when the slope is within the tolerance and the number of
    live variables does not change."""
    last_iteration = samples[-1]["iteration"]
    steady = [s for s in samples if s["iteration"] >= warmup_fraction * last_iteration]
    if len(steady) < 3:
        raise ValueError(f"need at least 3 samples after the warm-up, got {len(steady)}: "
                         "run more iterations or sample more often")
    iterations = np.array([s["iteration"] for s in steady], dtype=np.float64)
    rss = np.array([s["rss_mib"] for s in steady])
    slope = float(np.polyfit(iterations, rss, 1)[0] * 1000)
    live = [s["live_vars"] for s in steady]
    return {"warmup_iterations": int(steady[0]["iteration"]), "rss_start_mib": samples[0]["rss_mib"],
            "rss_after_warmup_mib": float(rss[0]), "rss_end_mib": float(rss[-1]),
            "rss_max_mib": max(s["rss_mib"] for s in samples), "rss_growth_after_warmup_mib": float(rss[-1] - rss[0]),
            "rss_slope_mib_per_1000_iterations": slope, "tolerance_mib_per_1000_iterations": tolerance_mib_per_1000,
            "live_vars_after_warmup": [min(live), max(live)],
            "kernels_after_warmup": [steady[0]["kernels"], steady[-1]["kernels"]],
            "flat": abs(slope) <= tolerance_mib_per_1000 and min(live) == max(live)}


def soak(config: TrainConfig, iterations: int, every: int, warmup_fraction: float,
         tolerance_mib_per_1000: float) -> Dict:
    """Run ``iterations`` training steps as ``config`` trains (epochs repeat as needed; no
    evaluation or checkpoints) and sample memory every ``every`` steps. Writes ``soak.json`` to
    ``config.out`` and returns it."""
    if iterations < 1 or every < 1:
        raise ValueError(f"need iterations >= 1 and every >= 1, got {iterations} and {every}")
    from tqdm import tqdm
    trainer = Trainer(config)
    start = time.time()
    samples = [sample_memory(0, start)]
    done, epoch = 0, 0
    with tqdm(total=iterations, desc="soak") as bar:
        while done < iterations:
            trainer.begin_epoch(epoch)
            for step, (images, targets, _) in enumerate(trainer.dataset):
                trainer.train_step(images, targets, epoch, step)
                done += 1
                bar.update()
                if done % every == 0 or done == iterations:
                    samples.append(sample_memory(done, start))
                    bar.set_postfix(rss_mib=round(samples[-1]["rss_mib"]), live_vars=samples[-1]["live_vars"])
                if done == iterations:
                    break
            epoch += 1
    machine = hardware()
    result = {"config": dict(asdict(config), out=portable_path(config.out)), "iterations": iterations,
              "every": every, "epochs_touched": epoch,
              "cpu": f"{machine['cpu_model']} ({machine['cpu_cores']} logical cores)", "jittor": jt.__version__,
              "samples": samples,
              "summary": summarize_samples(samples, warmup_fraction, tolerance_mib_per_1000),
              "environment": environment()}
    out = Path(config.out)
    (out / "soak.json").write_text(json.dumps(result, indent=1))
    return result


def soak_command(data: str, images: str = "", model: str = "gold_yolo-n", img_size: int = 320, batch_size: int = 8,
                 iterations: int = 2000, every: int = 20, warmup_fraction: float = 0.25, tolerance: float = 10.0,
                 seed: int = 0, device: str = "cpu", out: str = "runs/soak") -> int:
    """``soak``: run, write soak.json and soak.png to ``out``, print the verdict; 0 when flat, else 1."""
    config = TrainConfig(model=model, data=data, images=images, out=out, img_size=img_size, batch_size=batch_size,
                         seed=seed, device=device, stop_aug_last_n_epoch=0)
    result = soak(config, iterations, every, warmup_fraction, tolerance)
    plot_soak(result, Path(out) / "soak.png")
    summary = result["summary"]
    print(f"{iterations} iterations: RSS {summary['rss_start_mib']:.0f} MiB at start, "
          f"{summary['rss_after_warmup_mib']:.0f} after {summary['warmup_iterations']} (warm-up), "
          f"{summary['rss_end_mib']:.0f} at the end; slope after warm-up "
          f"{summary['rss_slope_mib_per_1000_iterations']:+.1f} MiB per 1,000 iterations "
          f"(tolerance {tolerance}); live Jittor variables {summary['live_vars_after_warmup']}; "
          f"{'flat' if summary['flat'] else 'NOT flat'}")
    return 0 if summary["flat"] else 1
