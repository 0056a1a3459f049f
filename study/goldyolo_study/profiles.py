"""The report's profiles: the study's settings (``full``), a quick one on ``data/sample`` and a CI one.

Every notebook reads the same variables from its ``parameters`` cell; ``parameters(profile)`` gives
the values the report build injects, and ``training_command`` the one command that trains them
(resumable: it continues ``RUN_DIR/train/last.pkl`` when the run was stopped).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List

from goldyolo.errors import InputError, InputNotFoundError

# The full study on the CPU: the original protocol (800/200 images, 30 epochs) with Gold-YOLO-N at 320 px,
# because Gold-YOLO-S at 640 px needs about 15x the computation per image (notebook 03 estimates the hours).
FULL_CPU: Dict[str, object] = {
    "DATA_ROOT": "../shared/coco_subset", "SPLIT_DIR": "data/splits", "N_TEST": 200,
    "TRAIN_JSON": "data/splits/train.json", "TEST_JSON": "data/splits/test.json",
    "IMAGES": "../shared/coco_subset/images", "RUN_DIR": "report/full", "MODEL": "gold_yolo-n", "IMG_SIZE": 320,
    "EPOCHS": 30, "BATCH_SIZE": 16, "DEVICE": "cpu", "SEED": 0,
    "ANOMALY_IMAGES": 8, "ANOMALY_SIZE": 160, "ANOMALY_STEPS": 100, "ANOMALY_SEEDS": [0, 1, 2],
    "REFERENCE": "../shared/reference",
    "BENCH_MODELS": ["gold_yolo-n", "gold_yolo-s"], "BENCH_SIZE": 640, "BENCH_BATCHES": [1, 32], "BENCH_RUNS": 5,
    # a benchmark child still running after this long is reported with its stacks, stopped and run once more
    "BENCH_TIMEOUT_S": 5400,
    # the training step is timed where the recorded official timing was made: gold_yolo-n, 320 px, batch 8
    "BENCH_TRAIN": {"model": "gold_yolo-n", "img_size": 320, "batch": 8},
    # the committed runs beside the official trainer (compare-train, compare-steps) and the long run, read by
    # notebook 03 in every profile: they take CPU-hours and are not remade by the report build
    "REFERENCE_RUNS": "report/full",
}
# With a GPU the full study is the original protocol itself: Gold-YOLO-S at 640 px.
FULL_GPU_CHANGES: Dict[str, object] = {"RUN_DIR": "report/full-gpu", "MODEL": "gold_yolo-s", "IMG_SIZE": 640,
                                       "DEVICE": "cuda"}
SAMPLE: Dict[str, object] = {
    "DATA_ROOT": "data/sample", "N_TEST": 8, "TRAIN_JSON": "data/sample/train.json",
    "TEST_JSON": "data/sample/test.json", "IMAGES": "data/sample/images", "ANOMALY_IMAGES": 8,
    "BENCH_MODELS": ["gold_yolo-n"], "BENCH_SIZE": 320, "BENCH_BATCHES": [1, 8], "BENCH_RUNS": 3,
}
PROFILE_CHANGES: Dict[str, Dict[str, object]] = {
    "full": {},
    "quick": dict(SAMPLE, SPLIT_DIR="runs/quick/splits", RUN_DIR="runs/quick", IMG_SIZE=256, EPOCHS=6,
                  BATCH_SIZE=8, ANOMALY_SIZE=128, ANOMALY_STEPS=40),
    "ci": dict(SAMPLE, SPLIT_DIR="runs/ci/splits", RUN_DIR="runs/ci", IMG_SIZE=128, EPOCHS=2, BATCH_SIZE=8,
               ANOMALY_SIZE=96, ANOMALY_STEPS=6, ANOMALY_SEEDS=[0, 1], BENCH_SIZE=128, BENCH_BATCHES=[1, 2],
               BENCH_RUNS=2, BENCH_TIMEOUT_S=420,
               BENCH_TRAIN={"model": "gold_yolo-n", "img_size": 128, "batch": 2}),
}


# what each profile's report is made from, in the title page's words
PROFILE_WORDS: Dict[str, str] = {
    "full": "the study's 800/200 split of 1,000 COCO val2017 images and the committed run records (the full build)",
    "quick": "the 32-image sample in data/sample, short runs (a quick build: its numbers are not the study's)",
    "ci": "the 32-image sample in data/sample, the shortest runs (a test build: its numbers are not the study's)",
}


def has_gpu() -> bool:
    """Whether Jittor sees a CUDA device."""
    from goldyolo.runtime import jt
    return bool(getattr(jt, "has_cuda", 0))


def parameters(profile: str, gpu: bool = False) -> Dict[str, object]:
    """The notebook variables of ``profile`` (``full`` switches to the GPU protocol when ``gpu``)."""
    if profile not in PROFILE_CHANGES:
        raise InputError(f"unknown profile {profile!r} (profiles: {', '.join(PROFILE_CHANGES)})")
    values = dict(FULL_CPU, PROFILE=profile, **PROFILE_CHANGES[profile])
    if profile == "full" and gpu:
        values.update(FULL_GPU_CHANGES)
    return values


def fill_parameters(profile: str, namespace: Dict[str, object]) -> Dict[str, object]:
    """The profile's values of the notebook parameters that ``namespace`` (a notebook's globals) leaves None.

    A notebook's ``parameters`` cell sets ``PROFILE`` and each other parameter to None; a value given there,
    by ``papermill -p NAME VALUE`` or by the report build, overrides the profile's."""
    values = parameters(profile, has_gpu() if profile == "full" else False)
    return {name: values[name] for name, value in namespace.items() if value is None and name in values}


def training_command(params: Dict[str, object], root: Path | str = ".", resume: bool | None = None) -> List[str]:
    """``python -m goldyolo train ...`` for the study's run.

    ``resume`` None adds ``--resume`` when ``root``/RUN_DIR/train holds a checkpoint; True or False decide."""
    out = Path(str(params["RUN_DIR"])) / "train"
    command = [sys.executable, "-m", "goldyolo", "train", "--model", str(params["MODEL"]),
               "--data", str(params["TRAIN_JSON"]), "--images", str(params["IMAGES"]),
               "--val-data", str(params["TEST_JSON"]), "--val-images", str(params["IMAGES"]),
               "--img-size", str(params["IMG_SIZE"]), "--epochs", str(params["EPOCHS"]),
               "--batch-size", str(params["BATCH_SIZE"]), "--seed", str(params["SEED"]),
               "--device", str(params["DEVICE"]), "--out", str(out)]
    if resume is None:
        resume = (Path(root) / out / "last.pkl").exists()
    return command + (["--resume"] if resume else [])


def finished_without_checkpoint(params: Dict[str, object], root: Path | str = ".") -> bool:
    """Whether RUN_DIR/train holds the records of a finished run but no checkpoint: a fresh clone of the committed
    run (its checkpoints are not committed), which training again would overwrite."""
    run = Path(root) / str(params["RUN_DIR"]) / "train"
    metrics = run / "metrics.jsonl"
    if (run / "last.pkl").exists() or not metrics.is_file():
        return False
    epochs = sum(1 for line in metrics.read_text().splitlines() if line.strip())
    return epochs >= int(params["EPOCHS"])


def run_training(params: Dict[str, object], cwd: Path | str = ".") -> None:
    """Run (or continue) the study's training; raises ``RuntimeError`` naming the command when it fails. A
    finished run whose checkpoints are absent (:func:`finished_without_checkpoint`) is reported as it stands."""
    if finished_without_checkpoint(params, cwd):
        print(f"training: {params['RUN_DIR']}/train holds a finished run without its checkpoints (not committed); "
              "reported from its records", flush=True)
        return
    command = training_command(params, cwd)
    print("training:", " ".join(command[1:]), flush=True)
    done = subprocess.run(command, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"training failed (exit {done.returncode}): {' '.join(command[1:])}")


def enter_repo_root(start: Path | str = ".") -> Path:
    """Change to the repository root (the folder with ``pyproject.toml`` and ``notebooks/``) and return it.

    Notebook paths are relative to the root, whether Jupyter was started there or in ``notebooks/``."""
    import os
    here = Path(start).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() and (folder / "notebooks").is_dir():
            os.chdir(folder)
            return folder
    raise InputNotFoundError(f"no goldyolo repository (pyproject.toml and notebooks/) at or above {here}")
