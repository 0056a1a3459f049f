"""The official trainer (``tools/train.py`` of Detection/Gold-YOLO) run for ``compare-train``: a child
process with PyTorch and the official code only (no Jittor), ``python -m goldyolo.compare.official_trainer
SPEC.json``.

What is changed around the official code, and why (nothing inside it is edited or copied):

* stand-ins where a package is missing: mmcv (:mod:`goldyolo.compare.mmcv_shim`), ``torchvision.ops.nms``
  (goldyolo's greedy NMS, which reproduces torchvision's), a ``SummaryWriter`` that writes nothing
  when tensorboard is absent (the trainer only logs to it), and ``thop.profile`` (FLOPs reported as 0: the
  evaluator only logs them); with the NMS stand-in, the official NMS's 10-second limit per batch is
  switched off (it was set for torchvision's C++ NMS; with the slower stand-in it would drop images);
* ``torch.load`` reads the run's own checkpoints with ``weights_only=False``: they hold whole modules,
  which torch >= 2.6 refuses by default (the official resume and ``strip_optimizer`` fail otherwise);
* the seed: ``tools/train.py`` seeds every single-process run with ``1 + rank`` = 0; here with the spec's;
* the initial weights: after the official ``build_model``, the spec's ``init`` file is loaded strictly;
* records: per epoch the mean loss items, learning rates and times go to ``metrics.jsonl``; at the chosen
  epochs (``save_ema_epochs`` and the last) the official evaluator's AP too, and the EMA weights (float32,
  ``.npz``) go to ``ema/``;
* resume: the official ``last_ckpt.pt`` holds float16 weights, its resume re-seeds the random
  generators and restarts the accumulation counter, and its first resumed epoch keeps the previous
  epoch's learning rate. Each epoch therefore also writes ``weights/resume.pt`` (float32 model and EMA,
  optimizer, random states, accumulation position), and a resumed run continues from it as the
  uninterrupted run would (exactly on the CPU with ``workers`` 0), with mosaic still off when it resumes
  after the epoch that switched it off (the official resume turns it back on).

Modes (``spec["mode"]``): ``init`` writes the official initialisation of the model to ``spec["init"]``;
``train`` trains (continuing from ``weights/resume.pt`` when the output holds one); ``steps`` runs the
official Trainer's own step (``train_in_steps``: forward, loss, backward, warm-up, accumulation, SGD,
EMA) on given batches, its ``prepare_for_steps`` at each epoch (schedule step, mosaic switch), and records
each step (:mod:`goldyolo.compare.step_parity`); ``eval`` runs the
official ``tools/eval.py`` on given weights (:mod:`goldyolo.compare.eval_parity`); ``data`` draws samples from the
official training dataset (:mod:`goldyolo.compare.data_parity`); ``fork`` hands one run's state after an epoch
to several runs (``compare-train --fork-at``): the state by name for goldyolo, and a copy of ``resume.pt`` with
each run's own random generators for the official trainer.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
import types
from pathlib import Path
from typing import Dict, List

import numpy as np

from ..data.augment import mosaic_in_epoch
from ..engine.loss_items import DISTILL_ITEMS, LOSS_ITEMS

STOPPED = 75  # exit status of a run stopped by ``stop_after_epoch``
STAND_IN_MAX_KEEP = 1000  # the most detections the official code keeps after torchvision's NMS


def install_stand_ins() -> List[str]:
    """Put stand-ins for missing mmcv, torchvision and tensorboard into ``sys.modules``; returns their names."""
    import torch

    from ..compare.mmcv_shim import install_if_missing
    names = install_if_missing()
    try:
        import torchvision.ops  # noqa: F401
    except Exception:  # absent, or built for another torch (it then fails to load its operators)
        from ..eval.postprocess import offset_nms

        def torch_nms(boxes, scores, iou_threshold):
            # the official code keeps at most max_det (300 in evaluation, 1000 in tools/infer.py) of what
            # torchvision returns; greedy NMS's first k are those of the full run, so stopping there is exact
            keep = offset_nms(boxes.detach().cpu().double().numpy(), scores.detach().cpu().double().numpy(),
                              float(iou_threshold), max_keep=STAND_IN_MAX_KEEP)
            return torch.from_numpy(keep).to(boxes.device)
        vision, ops = types.ModuleType("torchvision"), types.ModuleType("torchvision.ops")
        ops.nms, vision.ops = torch_nms, ops
        sys.modules.update({"torchvision": vision, "torchvision.ops": ops})
        names.append("torchvision.ops.nms")
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        class SummaryWriter:
            def __init__(self, *args, **kwargs):
                pass

            def __getattr__(self, name):
                return lambda *args, **kwargs: None
        board = types.ModuleType("torch.utils.tensorboard")
        board.SummaryWriter = SummaryWriter
        sys.modules["torch.utils.tensorboard"] = board
        names.append("torch.utils.tensorboard.SummaryWriter")
    try:
        import thop  # noqa: F401
    except ImportError:  # the official evaluator only logs the FLOPs it counts
        counter = types.ModuleType("thop")
        counter.profile = lambda model, inputs=(), verbose=False: (0.0, float(sum(p.numel() for p in
                                                                                 model.parameters())))
        sys.modules["thop"] = counter
        names.append("thop.profile")
    original_load = torch.load

    def load(*args, **kwargs):
        kwargs.setdefault("weights_only", False)
        return original_load(*args, **kwargs)
    torch.load = load
    return names


def enter_checkout(root: str) -> None:
    """Run from the official folder as ``tools/train.py`` expects (it imports ``tools.eval`` and ``yolov6``)."""
    os.chdir(root)
    sys.path.insert(0, str(Path(root).resolve()))


def float_state(module) -> Dict[str, np.ndarray]:
    """state_dict as name -> numpy (float entries as float32, counters kept as they are)."""
    return {k: (v.detach().float() if v.dtype.is_floating_point else v.detach()).cpu().numpy()
            for k, v in module.state_dict().items()}


def load_init(model, path: str) -> None:
    """Load an ``.npz`` state strictly into the official model (missing counters are kept)."""
    import torch
    with np.load(path, allow_pickle=False) as archive:
        given = {k: torch.from_numpy(archive[k]) for k in archive.files}
    own = model.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in given:
            given[key] = value
    model.load_state_dict({k: v.to(own[k].dtype) if k in own else v for k, v in given.items()}, strict=True)


def official_args(spec: Dict, resume: str = "") -> List[str]:
    """``tools/train.py`` arguments: the plain recipe (no fuse_ab, no distillation); evaluation asked for every
    epoch, which :func:`patch_trainer` limits to the chosen epochs."""
    device = "cpu" if spec["device"] == "cpu" else "0"
    args = ["--data-path", spec["data_yaml"], "--conf-file", f"configs/{spec['model']}.py",
            "--img-size", str(spec["img_size"]), "--batch-size", str(spec["batch_size"]),
            "--epochs", str(spec["epochs"]), "--workers", str(spec["workers"]), "--device", device,
            "--eval-interval", "1", "--heavy-eval-range", "0", "--output-dir", spec["out"], "--name", "official",
            "--stop_aug_last_n_epoch", str(spec.get("stop_aug_last_n_epoch", 15))]
    return args + (["--resume", resume] if resume else [])


def write_init(spec: Dict) -> None:
    """The official initialisation: seed, config and ``build_model`` as ``tools/train.py`` and the Trainer use them."""
    import torch
    from yolov6.models.yolo import build_model
    from yolov6.utils.config import Config
    from yolov6.utils.envs import set_random_seed
    cfg = Config.fromfile(f"configs/{spec['model']}.py")
    if not hasattr(cfg, "training_mode"):
        cfg.training_mode = "repvgg"
    set_random_seed(spec["seed"], deterministic=True)
    model = build_model(cfg, spec["num_classes"], torch.device("cpu"), fuse_ab=False, distill_ns=False)
    Path(spec["init"]).parent.mkdir(parents=True, exist_ok=True)
    np.savez(spec["init"], **float_state(model))


def patch_trainer(spec: Dict, out: Path) -> Dict:
    """Wrap the official Trainer's methods to load the init, record each epoch and save EMA weights."""
    import tools.train as train_tool
    import torch
    from yolov6.core.engine import Trainer
    from yolov6.utils import envs
    from yolov6.utils.ema import de_parallel
    state = {"step_errors": 0}
    seed = spec["seed"]
    train_tool.set_random_seed = lambda _seed, deterministic=False: envs.set_random_seed(seed, deterministic)
    get_model, prepare, eval_model, eval_and_save, steps, before_loop = (
        Trainer.get_model, Trainer.prepare_for_steps, Trainer.eval_model, Trainer.eval_and_save,
        Trainer.train_in_steps, Trainer.train_before_loop)

    def restoring_before_loop(self):
        before_loop(self)
        saved = getattr(self, "ckpt", {}).get("harness")
        if saved:
            if not mosaic_in_epoch(self.start_epoch - 1, self.max_epoch, self.args.stop_aug_last_n_epoch):
                # prepare_for_steps switches mosaic and mixup off only at that epoch itself: a run resumed
                # after it would train with them again (the official resume does); a run shorter than
                # stop_aug_last_n_epoch never switches them off
                self.cfg.data_aug.mosaic, self.cfg.data_aug.mixup = 0.0, 0.0
                self.train_loader, self.val_loader = self.get_data_loader(self.args, self.cfg, self.data_dict)
            torch.set_rng_state(saved["torch_rng"])
            np.random.set_state(saved["numpy_rng"])
            random.setstate(saved["python_rng"])
            self.last_opt_step, self.best_ap = saved["last_opt_step"], saved["best_ap"]
            state["step_errors"] = saved["step_errors"]
            for group in self.optimizer.param_groups:  # the uninterrupted run's lr (its scheduler lags one epoch)
                group["lr"] = group["initial_lr"] * self.lf(max(self.start_epoch - 1, 0))

    def get_model_with_init(self, args, cfg, nc, device):
        if spec.get("no_drop_path"):
            cfg.model.neck.extra_cfg.drop_path_rate = 0.0
        model = get_model(self, args, cfg, nc, device)
        if spec.get("init") and not args.resume:
            load_init(model, spec["init"])
        return model

    def timed_prepare(self):
        state.update(start=time.time(), ap=None)
        prepare(self)

    def counted_steps(self, epoch_num, step_num):
        try:
            steps(self, epoch_num, step_num)
        except Exception:  # the official loop logs a failed step and goes on; count it
            state["step_errors"] += 1
            raise

    def recorded_eval(self):
        # the official evaluator runs at goldyolo's evaluation epochs (its NMS over 30,000 candidates per image
        # costs as much as a training epoch on a CPU early in training); elsewhere the last results stand
        if self.epoch not in spec["save_ema_epochs"] and self.epoch != self.max_epoch - 1:
            return
        eval_model(self)
        state["ap"] = [float(v) for v in self.evaluate_results[:2]]  # official order: mAP@0.5, mAP@0.5:0.95

    def recorded_eval_and_save(self):
        train_s = time.time() - state["start"]
        eval_and_save(self)
        epoch = self.epoch
        loss = [float(v) for v in self.mean_loss.detach().cpu()]
        names = DISTILL_ITEMS if len(loss) == len(DISTILL_ITEMS) else LOSS_ITEMS
        line = {"epoch": epoch, **dict(zip(names, loss)), "loss": sum(loss),
                "lr": [float(g["lr"]) for g in self.optimizer.param_groups], "time_s": train_s,
                "images_per_s": len(self.train_loader.dataset) / train_s, "step_errors": state["step_errors"],
                "mosaic": self.cfg.data_aug.mosaic > 0,
                "eval_time_s": time.time() - state["start"] - train_s}
        if state["ap"] is not None:
            line.update(official_AP50=state["ap"][0], official_AP=state["ap"][1])
        if epoch in spec["save_ema_epochs"] or epoch == self.max_epoch - 1:
            (out / "ema").mkdir(exist_ok=True)
            np.savez(out / "ema" / f"epoch_{epoch:03d}.npz", **float_state(self.ema.ema))
        with open(out / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(line) + "\n")
        harness = {"torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                   "python_rng": random.getstate(), "last_opt_step": self.last_opt_step, "best_ap": self.best_ap,
                   "step_errors": state["step_errors"]}
        snapshot = {"model": de_parallel(self.model), "ema": self.ema.ema, "updates": self.ema.updates,
                    "optimizer": self.optimizer.state_dict(), "epoch": epoch, "harness": harness}
        target = out / "official" / "weights" / "resume.pt"
        torch.save(snapshot, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)
        if epoch == spec.get("stop_after_epoch"):  # tests: a run killed after this epoch
            os._exit(STOPPED)

    Trainer.get_model, Trainer.prepare_for_steps, Trainer.eval_model = get_model_with_init, timed_prepare, recorded_eval
    Trainer.eval_and_save, Trainer.train_in_steps = recorded_eval_and_save, counted_steps
    Trainer.train_before_loop = restoring_before_loop
    torch.set_num_threads(spec["threads"])
    return state


def completed_epochs(out: Path) -> int:
    path = out / "metrics.jsonl"
    return len(path.read_text().splitlines()) if path.is_file() else 0


def train(spec: Dict) -> None:
    """Train with ``tools/train.py``'s ``main``; resume from the last checkpoint of an interrupted run."""
    out = Path(spec["out"]).resolve()
    spec = dict(spec, out=str(out))
    import tools.train as train_tool
    patch_trainer(spec, out)
    last = out / "official" / "weights" / "resume.pt"
    done = completed_epochs(out)
    if done >= spec["epochs"]:
        return
    if done and last.is_file():
        import torch
        saved = torch.load(last, map_location="cpu")["epoch"]
        if saved + 1 != done:  # metrics written after the checkpoint: keep the lines the checkpoint covers
            lines = (out / "metrics.jsonl").read_text().splitlines()[:saved + 1]
            (out / "metrics.jsonl").write_text("".join(line + "\n" for line in lines))
        resume = str(last)
    else:
        for stale in (out / "metrics.jsonl", out / "official"):
            if stale.is_file():
                stale.unlink()
            elif stale.is_dir():
                import shutil
                shutil.rmtree(stale)
        resume = ""
    args = train_tool.get_args_parser().parse_args(official_args(spec, resume))
    train_tool.main(args)


def run_steps(spec: Dict) -> None:
    """The official Trainer stepping through ``spec["batches"]`` (uint8 images and targets per step)."""
    import tools.train as train_tool
    import torch
    from yolov6.core.engine import Trainer
    from yolov6.utils.envs import get_envs
    out = Path(spec["out"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    patch_trainer(dict(spec, out=str(out)), out)
    args = train_tool.get_args_parser().parse_args(official_args(dict(spec, out=str(out))))
    args.local_rank, args.rank, args.world_size = get_envs()
    cfg, device, args = train_tool.check_and_init(args)
    cfg.solver.lr0 *= spec.get("lr_scale", 1.0)  # before the Trainer rescales lr0 by the batch size
    cfg.solver.warmup_bias_lr *= spec.get("lr_scale", 1.0)
    trainer = Trainer(args, cfg, device)
    trainer.max_stepnum = spec["steps_per_epoch"]  # the schedule of an epoch of this many steps
    trainer.train_before_loop()
    if spec.get("warmup_steps"):  # a short warm-up, so that a few steps reach the cosine schedule
        trainer.warmup_stepnum = spec["warmup_steps"]
    trainer.ema.updates = spec.get("ema_start_updates", 0)  # an EMA as far into training as this many updates
    batches = np.load(spec["batches"])
    records = []
    for step in range(spec["steps"]):
        trainer.epoch, trainer.step = divmod(step, spec["steps_per_epoch"])
        if trainer.step == 0:
            trainer.prepare_for_steps()
        rows = batches["targets"][batches["targets"][:, 0] == step][:, 1:]
        trainer.batch_data = (torch.from_numpy(batches["images"][step]), torch.from_numpy(rows), [], [])
        trainer.train_in_steps(trainer.epoch, trainer.step)
        records.append({"step": step, "items": [float(v) for v in trainer.loss_items],
                        "lr": [float(g["lr"]) for g in trainer.optimizer.param_groups],
                        "momentum": [float(g["momentum"]) for g in trainer.optimizer.param_groups],
                        "optimizer_step": trainer.last_opt_step == step, "ema_updates": trainer.ema.updates,
                        "ema_decay": float(trainer.ema.decay(trainer.ema.updates)),
                        "mosaic": trainer.cfg.data_aug.mosaic > 0})
    (out / "steps.json").write_text(json.dumps(records))
    np.savez(out / "model.npz", **float_state(trainer.model))
    np.savez(out / "ema.npz", **float_state(trainer.ema.ema))


def run_eval(spec: Dict) -> None:
    """The official ``tools/eval.py`` (its own argument handling, so ``--reproduce_640_eval`` picks the profile
    by the weights file's name) on the spec's ``.npz`` weights; writes ``eval.json`` (AP, AP50, each image's
    input shape) and the official ``predictions.json`` in ``spec["out"]``."""
    import tools.eval as eval_tool
    import torch
    from yolov6.core.evaler import Evaler
    from yolov6.models.yolo import build_model
    from yolov6.utils.config import Config
    out = Path(spec["out"]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = Config.fromfile(str(Path(spec["root"]) / "configs" / f"{spec['model']}.py"))
    if not hasattr(cfg, "training_mode"):  # as tools/train.py's check_and_init sets it
        cfg.training_mode = "repvgg"
    model = build_model(cfg, spec["num_classes"], "cpu")
    load_init(model, spec["weights"])
    weights = out / f"{spec['weights_name']}.pt"
    torch.save({"model": model.float()}, weights)
    argv = ["--data", spec["data_yaml"], "--weights", str(weights), "--batch-size", str(spec["batch_size"]),
            "--img-size", str(spec["img_size"]), "--task", "val", "--device", "cpu", "--save_dir", str(out),
            "--name", "official"] + spec["flags"]
    if spec.get("trainer_loader"):
        return trainer_eval(spec, model, out)
    shapes = {}
    original_init_data = Evaler.init_data

    def init_data(self, dataloader, task):  # each image's input shape, from the official dataset itself
        dataloader = original_init_data(self, dataloader, task)
        data = dataloader.dataset
        for i, path in enumerate(data.img_paths):
            shape = data.batch_shapes[data.batch_indices[i]] if data.rect else (data.img_size, data.img_size)
            shapes[Path(path).name] = [int(v) for v in shape]
        return dataloader
    Evaler.init_data = init_data
    torch.set_num_threads(spec["threads"])
    sys.argv = ["tools/eval.py"] + argv
    args = eval_tool.get_args_parser()
    (ap50, ap), _, _ = eval_tool.run(**vars(args))
    saved = sorted(out.glob("official*/predictions.json"), key=lambda p: p.stat().st_mtime)
    if not saved:  # no detection at all: the evaluator returns without writing them
        saved = [out / "no_predictions.json"]
        saved[0].write_text("[]")
    saved = saved[-1]
    (out / "eval.json").write_text(json.dumps({"AP": float(ap), "AP50": float(ap50), "shapes": shapes,
                                               "predictions": str(saved), "args": vars(args)}, default=str))


def trainer_eval(spec: Dict, model, out: Path) -> None:
    """The official trainer's own evaluation (``Trainer.eval_model`` without ``eval_params``): its test loader as
    ``Trainer.get_data_loader`` builds it (rect batches read at the training size, pad 0.5, the data.yaml's val
    split) and the EMA model in training form, through ``tools.eval.run(task="train")``; writes ``eval.json`` as
    :func:`run_eval` does."""
    import tools.eval as eval_tool
    import torch
    from yolov6.data.data_load import create_dataloader
    from yolov6.utils.config import Config
    cfg = Config.fromfile(str(Path(spec["root"]) / "configs" / f"{spec['model']}.py"))
    data = json.loads(Path(spec["data_yaml"]).read_text())  # written as JSON, which is YAML
    grid = max(int(max(cfg.model.head.strides)), 32)
    loader = create_dataloader(data["val"], spec["img_size"], spec["batch_size"], grid, hyp=dict(cfg.data_aug),
                               rect=True, rank=-1, pad=0.5, workers=0, check_images=False, check_labels=True,
                               data_dict=data, task="val")[0]
    dataset = loader.dataset
    shapes = {Path(path).name: [int(v) for v in dataset.batch_shapes[dataset.batch_indices[i]]]
              for i, path in enumerate(dataset.img_paths)}
    torch.set_num_threads(spec["threads"])
    model.eval()
    (ap50, ap), _, _ = eval_tool.run(data, batch_size=spec["batch_size"], img_size=spec["img_size"], model=model,
                                     conf_thres=0.03, dataloader=loader, save_dir=str(out), task="train")
    saved = out / "predictions.json"
    if not saved.is_file():  # no detection at all: the evaluator returns without writing them
        saved.write_text("[]")
    (out / "eval.json").write_text(json.dumps({"AP": float(ap), "AP50": float(ap50), "shapes": shapes,
                                               "predictions": str(saved), "args": {"task": "train"}}))


def run_data(spec: Dict) -> None:
    """The official training dataset (``TrainValDataset`` as ``get_data_loader`` builds it, augmentation on,
    mosaic and mixup as ``spec["mosaic"]`` says) over every image ``spec["passes"]`` times, each sample drawn
    after seeding ``random`` and numpy with (seed, pass, index); writes what reaches the loss to
    ``spec["out"]`` (:func:`goldyolo.compare.data_parity.sample_records`)."""
    import yaml
    from yolov6.data.datasets import TrainValDataset

    from .samples import sample_records
    data_dict = yaml.safe_load(Path(spec["data_yaml"]).read_text())
    hyp = dict(spec["hyp"], mosaic=1.0 if spec["mosaic"] else 0.0,
               mixup=spec["hyp"]["mixup"] if spec["mosaic"] else 0.0)
    dataset = TrainValDataset(data_dict["train"], spec["img_size"], spec["batch_size"], augment=True, hyp=hyp,
                              rect=False, check_images=False, check_labels=False, stride=32, pad=0.0, rank=-1,
                              data_dict=data_dict, task="train")

    def draw(pass_index, index):
        random.seed(f"{spec['seed']}/{pass_index}/{index}")
        np.random.seed([spec["seed"], pass_index, index])
        image, labels, path, _ = dataset[index]
        return image.numpy(), labels.numpy()[:, 1:], Path(path).name
    np.savez(spec["out"], **sample_records(draw, len(dataset), spec["passes"]))


def fork_state(snapshot: Dict) -> Dict[str, np.ndarray]:
    """A harness ``resume.pt`` as flat arrays by name: ``model/``, ``ema/``, SGD's ``momentum/`` buffers, and the
    counters (``epoch``, ``ema_updates``, ``last_opt_step``)."""
    from yolov6.solver.build import build_optimizer
    model = snapshot["model"]
    names = {id(p): n for n, p in model.named_parameters()}
    solver = types.SimpleNamespace(optim="SGD", lr0=0.01, momentum=0.9, weight_decay=0.0)
    groups = build_optimizer(types.SimpleNamespace(solver=solver), model).param_groups
    ordered = [p for g in groups for p in g["params"]]
    state = {f"model/{k}": v for k, v in float_state(model).items()}
    state.update({f"ema/{k}": v for k, v in float_state(snapshot["ema"]).items()})
    for index, entry in snapshot["optimizer"]["state"].items():  # indices follow build_optimizer's order
        state[f"momentum/{names[id(ordered[index])]}"] = entry["momentum_buffer"].float().numpy()
    state.update(epoch=np.array(snapshot["epoch"]), ema_updates=np.array(snapshot["updates"]),
                 last_opt_step=np.array(snapshot["harness"]["last_opt_step"]))
    return state


def run_fork(spec: Dict) -> None:
    """From the base run's ``resume.pt``: ``spec["state"]`` (:func:`fork_state`), and for each target run a
    ``resume.pt`` whose random generators are seeded with the target's seed, beside the base's metrics lines."""
    import torch
    base = Path(spec["base"]).resolve()
    snapshot = torch.load(base / "official" / "weights" / "resume.pt", map_location="cpu")
    if not Path(spec["state"]).is_file():
        np.savez(spec["state"], **fork_state(snapshot))
    lines = (base / "metrics.jsonl").read_text().splitlines()[:snapshot["epoch"] + 1]
    for target in spec["targets"]:
        out = Path(target["out"]).resolve()
        if (out / "metrics.jsonl").is_file():
            continue
        torch.manual_seed(target["seed"])
        np.random.seed(target["seed"])
        random.seed(target["seed"])
        harness = dict(snapshot["harness"], torch_rng=torch.get_rng_state(), numpy_rng=np.random.get_state(),
                       python_rng=random.getstate())
        (out / "official" / "weights").mkdir(parents=True, exist_ok=True)
        torch.save(dict(snapshot, harness=harness), out / "official" / "weights" / "resume.pt")
        marked = [json.dumps(dict(json.loads(line), fork_base=True)) for line in lines]
        (out / "metrics.jsonl").write_text("".join(line + "\n" for line in marked))


def main(argv: List[str]) -> None:
    import warnings
    # the official code's deprecated torch.cuda.amp calls warn at every step
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.cuda.amp")
    warnings.filterwarnings("ignore", category=UserWarning, message="CUDA is not available")
    spec = json.loads(Path(argv[0]).read_text())
    shims = install_stand_ins()
    enter_checkout(spec["root"])
    if "torchvision.ops.nms" in shims:
        # the official NMS gives up on the rest of a batch after 10 s, a limit set for torchvision's C++ NMS:
        # with the stand-in (numpy) it would drop images, so its clock is stopped
        import yolov6.utils.nms as official_nms
        official_nms.time = types.SimpleNamespace(time=lambda: 0.0)
        shims.append("no NMS time limit")
    print(f"official trainer in {spec['root']}; stand-ins: {', '.join(shims) or 'none'}", flush=True)
    {"init": write_init, "train": train, "steps": run_steps, "eval": run_eval, "data": run_data,
     "fork": run_fork}[spec["mode"]](spec)


if __name__ == "__main__":
    main(sys.argv[1:])
