"""``python -m goldyolo speed-ab``: Jittor against the official PyTorch model, timed interleaved.

One timing of each framework after the other (``bench --torch-reference``) lets the machine's state drift
between the two: on a shared VM that drift alone moved ratios by 10-30 %. Here both models stay loaded, each
in its own worker process (``python -m goldyolo speed-ab --worker jittor|torch``, warmed up, waiting on its
stdin), and the parent asks them for one synchronised timed run at a time, A, B, A, B, ..., so that both see
the same conditions. An *invocation* is one pair of fresh workers; the command runs ``invocations`` of them
one after the other. Per setting the json holds every time, each invocation's median ratio
(Jittor / PyTorch), and the ratio of the pooled medians with a 95 % bootstrap interval (runs resampled
within each invocation).
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from ..errors import InputError

FRAMEWORKS = ("jittor", "torch")
MARK = "@speed-ab "  # a worker's answers start with this; anything else it prints (compiler logs) is passed on


@dataclass
class SpeedABConfig:
    """The settings of one ``speed-ab`` command."""
    torch_reference: str = ""   # Detection/Gold-YOLO of the official checkout
    settings: str = "gold_yolo-n:640:1:deploy,gold_yolo-n:640:1:train_step"  # model:size:batch:mode, comma-separated
    runs: int = 20              # timed runs per framework and invocation
    warmup: int = 3
    invocations: int = 3
    device: str = "cpu"
    seed: int = 0               # bootstrap seed
    out: str = "runs/speed_ab/speed_ab.json"
    worker: str = ""            # internal: serve one framework's runs on stdin/stdout
    setting: str = ""           # internal: the worker's setting


def parse_settings(text: str) -> List[Tuple[str, int, int, str]]:
    """``model:size:batch:mode`` entries -> tuples; InputError naming a malformed entry."""
    parsed = []
    for entry in [e.strip() for e in text.split(",") if e.strip()]:
        parts = entry.split(":")
        if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit() or \
                parts[3] not in ("eval", "deploy", "train_step"):
            raise InputError(f"--settings {entry!r}: expected model:size:batch:mode with mode eval, deploy or "
                             "train_step (e.g. gold_yolo-n:640:1:deploy)")
        parsed.append((parts[0], int(parts[1]), int(parts[2]), parts[3]))
    if not parsed:
        raise InputError("--settings: no setting given")
    return parsed


def jittor_runner(model_name: str, img_size: int, batch: int, mode: str) -> Callable[[], float]:
    """A function that times one synchronised run of goldyolo's model (ms)."""
    from ..models import build_model
    from ..models.fuse import fuse
    from ..runtime import jt
    from .measure import train_step_fn
    model = build_model(model_name)
    if mode == "deploy":
        fuse(model)
    images = jt.rand(batch, 3, img_size, img_size)
    if mode == "train_step":
        fn = train_step_fn(model, images)
    else:
        model.eval()
        fn = lambda: model(images)  # noqa: E731

    def run() -> float:
        with jt.flag_scope(no_grad=int(mode != "train_step")):
            jt.sync_all(True)
            start = time.perf_counter()
            output = fn()
            jt.sync_all(True)
            del output
        return (time.perf_counter() - start) * 1e3
    return run


def torch_runner(root: str, model_name: str, img_size: int, batch: int, mode: str,
                 device: str) -> Callable[[], float]:
    """The same for the official PyTorch model, with as many threads as Jittor uses."""
    import torch

    from .torch_side import check_checkout, jittor_threads, official_model, torch_sync, train_step_fn
    torch.set_num_threads(jittor_threads())
    torch.manual_seed(0)
    cfg, model, _ = official_model(check_checkout(root, model_name), model_name, device)
    if mode == "deploy":
        from gold_yolo.switch_tool import switch_to_deploy
        from yolov6.utils.torch_utils import fuse_model
        model = switch_to_deploy(fuse_model(model).eval()).eval()
    images = torch.rand(batch, 3, img_size, img_size, device=device)
    sync = torch_sync(device)
    if mode == "train_step":
        fn = train_step_fn(cfg, model, images)
    else:
        model.eval()
        fn = lambda: model(images)  # noqa: E731

    def run() -> float:
        with torch.inference_mode(mode != "train_step"):
            sync()
            start = time.perf_counter()
            output = fn()
            sync(output)
        return (time.perf_counter() - start) * 1e3
    return run


def serve(cfg: SpeedABConfig) -> int:
    """Worker: build, warm up, print ``ready``; then one timed run per ``run`` line read, printing its ms."""
    model_name, img_size, batch, mode = parse_settings(cfg.setting)[0]
    if cfg.worker == "jittor":
        if cfg.device == "cuda":
            from ..runtime import use_cuda
            use_cuda()
        run = jittor_runner(model_name, img_size, batch, mode)
    else:
        run = torch_runner(cfg.torch_reference, model_name, img_size, batch, mode, cfg.device)
    for _ in range(cfg.warmup):
        run()
    print(MARK + "ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        print(f"{MARK}{run():.6f}", flush=True)
    return 0


class Worker:
    """A worker process of one framework, asked for timed runs one at a time."""

    def __init__(self, framework: str, cfg: SpeedABConfig, setting: str):
        command = [sys.executable, "-m", "goldyolo", "speed-ab", "--worker", framework, "--setting", setting,
                   "--warmup", str(cfg.warmup), "--device", cfg.device, "--torch-reference", cfg.torch_reference]
        self.framework = framework
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._expect("ready")

    def _expect(self, what: str) -> str:
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the {self.framework} worker ended (exit {self.process.wait()}) while the "
                                   f"parent waited for {what}; its error is above")
            if line.startswith(MARK):
                return line[len(MARK):].strip()
            print(line, end="", file=sys.stderr)

    def time_one(self) -> float:
        self.process.stdin.write("run\n")
        self.process.stdin.flush()
        return float(self._expect("a time"))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=120)


def interleaved(cfg: SpeedABConfig, setting: str) -> Dict[str, List[float]]:
    """One invocation: fresh workers, then ``cfg.runs`` runs of each, A, B, A, B, ..."""
    workers = []
    try:
        for framework in FRAMEWORKS:
            workers.append(Worker(framework, cfg, setting))
        times: Dict[str, List[float]] = {framework: [] for framework in FRAMEWORKS}
        for _ in range(cfg.runs):
            for worker in workers:
                times[worker.framework].append(worker.time_one())
        return times
    finally:
        for worker in workers:
            worker.close()


def ratio_interval(invocations: Sequence[Dict[str, List[float]]], seed: int = 0,
                   resamples: int = 2000) -> Tuple[float, float, float]:
    """Ratio of the pooled medians (Jittor / PyTorch) and its 95 % bootstrap interval, the runs resampled
    within each invocation (so that every invocation keeps its weight)."""
    rng = np.random.default_rng(seed)
    a = [np.asarray(inv["jittor"]) for inv in invocations]
    b = [np.asarray(inv["torch"]) for inv in invocations]
    ratio = float(np.median(np.concatenate(a)) / np.median(np.concatenate(b)))
    draws = np.empty(resamples)
    for i in range(resamples):
        pick_a = np.concatenate([x[rng.integers(0, len(x), len(x))] for x in a])
        pick_b = np.concatenate([x[rng.integers(0, len(x), len(x))] for x in b])
        draws[i] = np.median(pick_a) / np.median(pick_b)
    low, high = np.percentile(draws, [2.5, 97.5])
    return ratio, float(low), float(high)


def summarize_setting(setting: Tuple[str, int, int, str], invocations: List[Dict[str, List[float]]],
                      seed: int) -> Dict:
    """The json entry of one setting: its times, per-invocation medians and ratios, the pooled ratio."""
    model_name, img_size, batch, mode = setting
    ratio, low, high = ratio_interval(invocations, seed)
    medians = [{f: float(np.median(inv[f])) for f in FRAMEWORKS} for inv in invocations]
    return {"model": model_name, "img_size": img_size, "batch": batch, "mode": mode,
            "runs": len(invocations[0]["jittor"]), "invocations": len(invocations),
            "jittor_median_ms": float(np.median(np.concatenate([inv["jittor"] for inv in invocations]))),
            "torch_median_ms": float(np.median(np.concatenate([inv["torch"] for inv in invocations]))),
            "ratio": ratio, "ci_low": low, "ci_high": high,
            "invocation_ratios": [m["jittor"] / m["torch"] for m in medians], "invocation_medians_ms": medians,
            "times_ms": invocations}


def speed_ab(cfg: SpeedABConfig) -> int | str:
    """``speed-ab``: every setting, ``invocations`` times, interleaved; writes ``cfg.out``."""
    if cfg.worker:
        return serve(cfg)
    from .machine import environment
    from .torch_side import check_checkout
    settings = parse_settings(cfg.settings)
    if cfg.runs < 20 or cfg.invocations < 1:
        raise InputError(f"--runs {cfg.runs} --invocations {cfg.invocations}: need at least 20 runs and 1 invocation")
    for model_name, *_ in settings:
        check_checkout(cfg.torch_reference, model_name)
    results = []
    for setting in settings:
        text = ":".join(map(str, setting))
        invocations = []
        for number in range(cfg.invocations):
            print(f"{text}: invocation {number + 1}/{cfg.invocations}, {cfg.runs} runs each, interleaved", flush=True)
            invocations.append(interleaved(cfg, text))
        results.append(summarize_setting(setting, invocations, cfg.seed))
        r = results[-1]
        print(f"  Jittor {r['jittor_median_ms']:.1f} ms, PyTorch {r['torch_median_ms']:.1f} ms, ratio "
              f"{r['ratio']:.3f} (95% {r['ci_low']:.3f}-{r['ci_high']:.3f})", flush=True)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": asdict(cfg), **environment(), "settings": results}, indent=1))
    return f"written: {out}"
