"""``python -m goldyolo speed-ab``: goldyolo against the official PyTorch model and other CPU options, timed
interleaved.

One timing of each framework after the other (``bench --torch-reference``) lets the machine's state drift
between the two: on a shared VM that drift alone moved ratios by 10-30 %. Here both models stay loaded, each
in its own worker process (``python -m goldyolo speed-ab --worker jittor|torch``, warmed up, waiting on its
stdin), and the parent asks them for one synchronised timed run at a time, A, B, A, B, ..., so that both see
the same conditions. An *invocation* is one set of fresh workers; the command runs ``invocations`` of them
one after the other. Per setting the json holds every time, each invocation's median ratio
(Jittor / PyTorch), and the ratio of the pooled medians with a 95 % bootstrap interval (runs resampled
within each invocation), and each worker's memory: its resident set after the timed runs and its peak.

``variants`` adds the other ways a user could run the same model on the CPU, each in its own worker in the
same rotation, each set against PyTorch eager float32 (:data:`VARIANTS`): goldyolo with Jittor's own
convolution or with bf16 convolutions, PyTorch channels-last, PyTorch autocast bf16 (with and without
channels-last), and ONNX Runtime on goldyolo's own ONNX export (inference only).
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError

FRAMEWORKS = ("jittor", "torch")
VARIANTS = {  # name: what runs (the model, the setting's input, the threads Jittor uses)
    "jittor": "goldyolo, float32 (oneDNN convolutions with kept primitives)",
    "jittor-ownconv": "goldyolo, float32, Jittor's own convolution",
    "jittor-bf16": "goldyolo, bf16 convolutions (float32 sums)",
    "torch": "official model, PyTorch eager float32",
    "torch-cl": "official model, PyTorch float32, channels_last",
    "torch-bf16": "official model, PyTorch CPU autocast bf16",
    "torch-bf16-cl": "official model, PyTorch autocast bf16, channels_last",
    "ort": "ONNX Runtime float32 on goldyolo's ONNX export (inference)",
}
REFERENCE = "torch"
MARK = "@speed-ab "  # a worker's answers start with this; anything else it prints (compiler logs) is passed on


@dataclass
class SpeedABConfig:
    """The settings of one ``speed-ab`` command."""
    torch_reference: str = ""   # Detection/Gold-YOLO of the official checkout
    settings: str = "gold_yolo-n:640:1:deploy,gold_yolo-n:640:1:train_step"  # model:size:batch:mode, comma-separated
    runs: int = 20              # timed runs per framework and invocation
    warmup: int = 3
    invocations: int = 3
    variants: str = "jittor,torch"  # comma-separated names of VARIANTS; ratios are to "torch"
    pause_ms: int = 100         # idle time before each timed run (spinning threads of the previous one settle)
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


def parse_variants(text: str) -> List[str]:
    """``--variants`` -> names (``jittor`` and ``torch`` always among them); InputError naming an unknown one."""
    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise InputError(f"--variants: unknown {unknown}; choose from {list(VARIANTS)}")
    return list(dict.fromkeys(["jittor", "torch"] + names))


def applies(variant: str, mode: str) -> bool:
    """Whether ``variant`` can run ``mode``: ONNX Runtime runs the deploy model only, and PyTorch's channels-last
    training step is left out: with PyTorch 2.13 on the CPU the official model's second channels-last training
    step corrupts the heap (``double free or corruption``), with or without goldyolo in the process."""
    if mode == "train_step":
        return variant != "ort" and not variant.endswith("-cl")
    return variant != "ort" or mode == "deploy"


def jittor_runner(model_name: str, img_size: int, batch: int, mode: str, conv: str = "onednn",
                  precision: str = "float32") -> Callable[[], float]:
    """A function that times one synchronised run of goldyolo's model (ms)."""
    from ..bench.measure import train_step_fn
    from ..models import build_model
    from ..models.fuse import fuse
    from ..ops.conv import frozen_weights, new_period, use_backend, use_precision
    from ..runtime import jt
    model = build_model(model_name)
    if mode == "deploy":
        fuse(model)
    images = jt.rand(batch, 3, img_size, img_size)
    if mode == "train_step":
        fn = train_step_fn(model, images)
    else:
        model.eval()
        fn = lambda: model(images)  # noqa: E731
    period = new_period()  # the model's weights do not change between runs

    def run() -> float:
        with jt.flag_scope(no_grad=int(mode != "train_step")), use_backend(conv), use_precision(precision), \
                frozen_weights(period):
            jt.sync_all(True)
            start = time.perf_counter()
            output = fn()
            jt.sync_all(True)
            del output
        return (time.perf_counter() - start) * 1e3
    return run


def _export_onnx(model_name: str, img_size: int, batch: int, path: str) -> None:
    from ..models import build_model
    from ..models.export import export_onnx
    from ..models.fuse import fuse
    export_onnx(fuse(build_model(model_name)), path, img_size, batch, check=False)


def ort_runner(model_name: str, img_size: int, batch: int) -> Callable[[], float]:
    """The same for ONNX Runtime (CPU, as many threads as Jittor) on goldyolo's ONNX export of the deploy model;
    the export runs in a child process, so that this worker's memory is ONNX Runtime's alone."""
    import multiprocessing
    import tempfile

    import onnxruntime

    from .torch_side import jittor_threads
    path = Path(tempfile.mkdtemp()) / f"{model_name}_{img_size}_{batch}.onnx"
    child = multiprocessing.get_context("spawn").Process(target=_export_onnx, args=(model_name, img_size, batch,
                                                                                   str(path)))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"the ONNX export of {model_name} failed (exit {child.exitcode}); its error is above")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = jittor_threads()
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).random((batch, 3, img_size, img_size)).astype(np.float32)

    def run() -> float:
        start = time.perf_counter()
        session.run(["outputs"], {"images": images})
        return (time.perf_counter() - start) * 1e3
    return run


def torch_runner(root: str, model_name: str, img_size: int, batch: int, mode: str, device: str,
                 channels_last: bool = False, bf16: bool = False) -> Callable[[], float]:
    """The same for the official PyTorch model, with as many threads as Jittor uses; ``channels_last`` stores
    model and input channels-last, ``bf16`` runs under CPU autocast to bfloat16."""
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
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    sync = torch_sync(device)
    if mode == "train_step":
        fn = train_step_fn(cfg, model, images, bf16=bf16)
    else:
        model.eval()
        fn = lambda: model(images)  # noqa: E731

    def run() -> float:
        with torch.inference_mode(mode != "train_step"), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 and mode != "train_step"):
            sync()
            start = time.perf_counter()
            output = fn()
            sync(output)
        return (time.perf_counter() - start) * 1e3
    return run


def serve(cfg: SpeedABConfig) -> int:
    """Worker: build, warm up, print ``ready``; then one timed run per ``run`` line read, printing its ms."""
    model_name, img_size, batch, mode = parse_settings(cfg.setting)[0]
    if cfg.worker.startswith("jittor"):
        if cfg.device == "cuda":
            from ..runtime import use_cuda
            use_cuda()
        run = jittor_runner(model_name, img_size, batch, mode, conv="jittor" if cfg.worker == "jittor-ownconv"
                            else "onednn", precision="bf16" if cfg.worker == "jittor-bf16" else "float32")
    elif cfg.worker == "ort":
        run = ort_runner(model_name, img_size, batch)
    else:
        run = torch_runner(cfg.torch_reference, model_name, img_size, batch, mode, cfg.device,
                           channels_last=cfg.worker.endswith("-cl"), bf16="bf16" in cfg.worker)
    for _ in range(cfg.warmup):
        run()
    print(MARK + "ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "memory":
            resident = resident_kib()  # the kernel updates the high-water mark lazily: it may lag the resident set
            print(f"{MARK}{resident} {max(resident, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)}", flush=True)
            continue
        if line.strip() != "run":
            break
        print(f"{MARK}{run():.6f}", flush=True)
    return 0


def resident_kib() -> int:
    """This process's resident set now, in KiB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
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

    def memory_mib(self) -> Dict[str, float]:
        """The worker's resident set now and its peak so far, in MiB."""
        self.process.stdin.write("memory\n")
        self.process.stdin.flush()
        resident, peak = (int(v) for v in self._expect("its memory").split())
        return {"rss_mib": resident / 1024, "peak_rss_mib": peak / 1024}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=120)


def interleaved(cfg: SpeedABConfig, setting: str, variants: Sequence[str] = FRAMEWORKS,
                memory: Optional[Dict[str, Dict[str, float]]] = None) -> Dict[str, List[float]]:
    """One invocation: fresh workers, then ``cfg.runs`` rounds of one run each (``memory``, when given, receives
    each worker's :meth:`Worker.memory_mib` after them). Each round starts one worker later
    (A B C, B C A, C A B, ...), so that every variant follows every other equally often, and ``pause_ms`` passes
    before each run: a runtime whose threads keep spinning after their work (OpenMP's default wait, ONNX Runtime's
    thread pool) would otherwise slow down whichever worker runs next."""
    workers = []
    try:
        for variant in variants:
            workers.append(Worker(variant, cfg, setting))
        times: Dict[str, List[float]] = {variant: [] for variant in variants}
        for round_index in range(cfg.runs):
            start = round_index % len(workers)
            for worker in workers[start:] + workers[:start]:
                time.sleep(cfg.pause_ms / 1e3)
                times[worker.framework].append(worker.time_one())
        if memory is not None:
            memory.update({worker.framework: worker.memory_mib() for worker in workers})
        return times
    finally:
        for worker in workers:
            worker.close()


def ratio_interval(invocations: Sequence[Dict[str, List[float]]], seed: int = 0, resamples: int = 2000,
                   numerator: str = "jittor", denominator: str = REFERENCE) -> Tuple[float, float, float]:
    """Ratio of the pooled medians (``numerator`` / ``denominator``, by default Jittor / PyTorch) and its 95 %
    bootstrap interval, the runs resampled within each invocation (so that every invocation keeps its weight)."""
    rng = np.random.default_rng(seed)
    a = [np.asarray(inv[numerator]) for inv in invocations]
    b = [np.asarray(inv[denominator]) for inv in invocations]
    ratio = float(np.median(np.concatenate(a)) / np.median(np.concatenate(b)))
    draws = np.empty(resamples)
    for i in range(resamples):
        pick_a = np.concatenate([x[rng.integers(0, len(x), len(x))] for x in a])
        pick_b = np.concatenate([x[rng.integers(0, len(x), len(x))] for x in b])
        draws[i] = np.median(pick_a) / np.median(pick_b)
    low, high = np.percentile(draws, [2.5, 97.5])
    return ratio, float(low), float(high)


def summarize_setting(setting: Tuple[str, int, int, str], invocations: List[Dict[str, List[float]]],
                      seed: int, memory: Optional[List[Dict[str, Dict[str, float]]]] = None) -> Dict:
    """The json entry of one setting: its times, per-invocation medians and ratios, the pooled ratio, and per
    variant the largest resident set and peak of its workers (MiB)."""
    model_name, img_size, batch, mode = setting
    ratio, low, high = ratio_interval(invocations, seed)
    medians = [{f: float(np.median(inv[f])) for f in inv} for inv in invocations]
    return {"model": model_name, "img_size": img_size, "batch": batch, "mode": mode,
            "runs": len(invocations[0]["jittor"]), "invocations": len(invocations),
            "jittor_median_ms": float(np.median(np.concatenate([inv["jittor"] for inv in invocations]))),
            "torch_median_ms": float(np.median(np.concatenate([inv["torch"] for inv in invocations]))),
            "ratio": ratio, "ci_low": low, "ci_high": high,
            "invocation_ratios": [m["jittor"] / m["torch"] for m in medians], "invocation_medians_ms": medians,
            "times_ms": invocations, "variants": variant_ratios(invocations, seed),
            **({"memory_mib": {v: {k: max(m[v][k] for m in memory) for k in memory[0][v]} for v in memory[0]}}
               if memory else {})}


def variant_ratios(invocations: List[Dict[str, List[float]]], seed: int) -> Dict[str, Dict]:
    """Per variant timed in the invocations: pooled median (ms) and its time ratio to PyTorch eager float32,
    with the 95 % interval."""
    entries = {}
    for variant in invocations[0]:
        ratio, low, high = ratio_interval(invocations, seed, numerator=variant)
        entries[variant] = {"description": VARIANTS[variant], "ratio_to_torch": ratio, "ci_low": low,
                            "ci_high": high,
                            "median_ms": float(np.median(np.concatenate([inv[variant] for inv in invocations])))}
    return entries


def speed_ab(cfg: SpeedABConfig) -> int | str:
    """``speed-ab``: every setting, ``invocations`` times, interleaved; writes ``cfg.out``."""
    if cfg.worker:
        return serve(cfg)
    from ..utils.machine import environment, portable_path
    from .torch_side import check_checkout
    settings = parse_settings(cfg.settings)
    if cfg.runs < 20 or cfg.invocations < 1:
        raise InputError(f"--runs {cfg.runs} --invocations {cfg.invocations}: need at least 20 runs and 1 invocation")
    variants = parse_variants(cfg.variants)
    for model_name, *_ in settings:
        check_checkout(cfg.torch_reference, model_name)
    results = []
    for setting in settings:
        text = ":".join(map(str, setting))
        invocations, memory = [], []
        for number in range(cfg.invocations):
            print(f"{text}: invocation {number + 1}/{cfg.invocations}, {cfg.runs} runs each, interleaved", flush=True)
            memory.append({})
            invocations.append(interleaved(cfg, text, [v for v in variants if applies(v, setting[3])], memory[-1]))
        results.append(summarize_setting(setting, invocations, cfg.seed, memory))
        for name, v in results[-1]["variants"].items():
            print(f"  {name}: {v['median_ms']:.1f} ms, / PyTorch float32 {v['ratio_to_torch']:.3f} "
                  f"(95% {v['ci_low']:.3f}-{v['ci_high']:.3f}), "
                  f"resident {results[-1]['memory_mib'][name]['rss_mib']:.0f} MiB", flush=True)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = dict(asdict(cfg), out=portable_path(cfg.out), torch_reference=portable_path(cfg.torch_reference))
    out.write_text(json.dumps({"config": config, **environment(), "settings": results}, indent=1))
    return f"written: {out}"
