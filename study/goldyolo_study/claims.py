"""The summary's register of the earlier report's claims beside what this study measured.

Each claim of :data:`goldyolo_study.seed_claims.SEED_CLAIMS` is judged by its rule in :data:`RULES` from the
evidence (:func:`goldyolo_study.evidence.gather`), the model counts and the earlier report's own numbers; the
verdicts are those of :data:`VERDICTS`. Where a verdict rests on inference rather than on a measurement, the
reason says "inference" and what it rests on."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import pandas as pd

from .anomaly_tables import near_target_mean, yes_no
from .style import readable


def headline_rows(speed: pd.DataFrame) -> Tuple[Optional[pd.Series], Optional[pd.Series]]:
    """The deploy-form rows of ``bench_suite.speed_table`` with the most images/s and at batch 1.

    Batch 1 is Gold-YOLO-S's where measured (the model the claims were about), else the first model's."""
    forward = speed[speed.form == "deploy"] if len(speed) else speed
    if not len(forward):
        return None, None
    s_rows = forward[forward.model == "gold_yolo-s"]
    s_bs1, any_bs1 = s_rows[s_rows.batch == 1], forward[forward.batch == 1]
    bs1 = s_bs1.iloc[0] if len(s_bs1) else (any_bs1.iloc[0] if len(any_bs1) else None)
    return forward.loc[forward["images/s"].idxmax()], bs1


CONFIRMED, CONSISTENT, REFUTED = "confirmed", "consistent", "refuted"
INCONSISTENT, UNTESTABLE = "inconsistent within the report", "not testable here"
VERDICTS = {
    CONFIRMED: "measured or rebuilt here, and the result agrees with the claim",
    CONSISTENT: "agrees with what was measured here, which does not by itself establish the claim (the reason says "
                "why)",
    REFUTED: "measured here, and the result contradicts the claim",
    INCONSISTENT: "the earlier report's own numbers contradict the claim, or it gives none for it",
    UNTESTABLE: "nothing here can check it (a GPU claim faces a CPU; code that is not available); what was "
                "measured instead is shown",
}
NOT_BUILT = "not in this build"
SEED_PARAMS, SEED_TRAINABLE = 9_344_468, 9_325_780  # the earlier report's parameter count
SEED_MEMORY_MB, SEED_FPS, SEED_MS = 4.7, 6352.7, 0.16
SEED_EPOCHS, SEED_EPOCH_S, SEED_MINUTES = 30, 17.6, 8.8
SEED_REG, SEED_CLS = 0.000, 0.684


def _speed_rows(evidence: Dict) -> pd.DataFrame:
    return pd.DataFrame(evidence.get("speed", []))


def _ratio_text(evidence: Dict) -> Tuple[str, str]:
    """Jittor/PyTorch time ratios (interleaved repeats when present) and the verdict on a JIT advantage."""
    ab = evidence.get("speed_ab", {}).get("settings", [])
    if ab:
        parts = [f"{s['model']} {s['img_size']} px batch {s['batch']} {s['mode']}: {s['ratio']:.2f} "
                 f"({s['ci_low']:.2f}-{s['ci_high']:.2f})" for s in ab]
        faster = [s for s in ab if s["ci_high"] < 1]
        level = [s for s in ab if s["ci_low"] <= 1 <= s["ci_high"]]
        verdict = CONSISTENT if faster and not level else REFUTED
        return ("Jittor/PyTorch time, interleaved repeats, 95% interval: " + "; ".join(parts)), verdict
    speed = _speed_rows(evidence)
    if len(speed) and "Jittor / PyTorch" in speed:
        rows = speed.dropna(subset=["Jittor / PyTorch"])
        parts = [f"{r.model} {r['size']} px batch {r.batch} {r.form}: {r['Jittor / PyTorch']:.2f}"
                 for _, r in rows.iterrows()]
        if parts:
            return ("Jittor/PyTorch time, one run each (not interleaved): " + "; ".join(parts)), UNTESTABLE
    return NOT_BUILT, UNTESTABLE




def _gpu_scope(measured: str) -> str:
    return f"not observed on this CPU ({measured}); GPU untested"


def _rebuild_text(anomaly: Dict) -> str:
    fixed = anomaly.get("fixed", {})
    return (f"the fixed-target rebuild falls {fixed['start']:.2f} -> {fixed['end']:.4f} in {anomaly.get('steps', '?')} "
            f"steps; the same with shuffled labels: {yes_no(fixed['same_with_shuffled'])}") if fixed else NOT_BUILT


def _rule_environment(ev, models):
    versions = ev.get("versions", {})
    measured = (f"this study: {ev.get('hardware', 'a CPU')}, Jittor {versions['jittor']}, Python {versions['python']}; "
                "no GPU") if versions else NOT_BUILT
    return measured, UNTESTABLE, "nothing here ran on a GPU; the earlier environment was not rebuilt"


def _rule_dataset(ev, models):
    split = ev.get("split")
    if not split:
        return NOT_BUILT, UNTESTABLE, "the split is made by notebook 01"
    (train_images, train_boxes, *train_crowd), (test_images, test_boxes, *test_crowd) = split["train"], split["test"]
    same = (train_images, test_images) == (800, 200)

    def counted(annotations, crowd):
        return f"{annotations:,} annotations" + (f": {annotations - crowd[0]:,} boxes and {crowd[0]} crowd regions"
                                                 if crowd else "")
    return (f"this study's split of its 1,000 COCO val2017 images: {train_images} images "
            f"({counted(train_boxes, train_crowd)}) and {test_images} ({counted(test_boxes, test_crowd)})",
            CONSISTENT if same else REFUTED,
            "the same protocol (800 and 200 of 1,000 val2017 images); the annotation counts differ because the "
            "earlier report does not list its images, so these are another 1,000")


def _rule_model_config(ev, models):
    from goldyolo.config import CONFIGS
    cfg = CONFIGS["gold_yolo-s"]
    same = (cfg.depth_multiple, cfg.width_multiple) == (0.33, 0.50)
    return (f"the official Gold-YOLO-S configuration: depth_multiple {cfg.depth_multiple}, width_multiple "
            f"{cfg.width_multiple}", CONSISTENT if same else REFUTED,
            "the multipliers are those of the official S configuration; the parameter count (next rows) is not")


def _counts_text(models) -> str:
    return ", ".join(f"{name.split('-')[-1].upper()} {info.params:,}" for name, info in models.items())


def _rule_param_count(ev, models):
    s = models["gold_yolo-s"].params
    return (f"Gold-YOLO-S built from the official configuration: {s:,} parameters (deploy form, counted as the "
            "official code counts; the paper: 21.5M)", INCONSISTENT if abs(SEED_PARAMS - s) > 0.01 * s else CONFIRMED,
            f"its own configuration (the row above: Gold-YOLO-S, depth 0.33, width 0.50) has {s:,} parameters in "
            f"the official code; {SEED_PARAMS:,} is {SEED_PARAMS / s:.0%} of that. Its model, not available, "
            "cannot be counted here; the next row draws the consequence")


def _rule_implemented(ev, models):
    nearest = min(models.values(), key=lambda info: abs(info.params - SEED_PARAMS))
    match = abs(nearest.params - SEED_PARAMS) <= 0.01 * nearest.params
    return (f"no Gold-YOLO size has {SEED_PARAMS:,} parameters: {_counts_text(models)}",
            CONFIRMED if match else REFUTED, "the counts measured here against its own (the row above): the "
            "model it trained matches none of Gold-YOLO's sizes, so it was another network, unless its own count is "
            "wrong; the model this study builds equals the official one output for output (notebook 04)")


def _rule_first_loss(ev, models):
    fixed = ev.get("anomaly", {}).get("fixed", {})
    return (_rebuild_text(ev.get("anomaly", {})), CONFIRMED if fixed.get("same_with_shuffled") else UNTESTABLE,
            "02 (a): the earlier report's own diagnosis; a target that ignores the image reaches about 0 without "
            "learning anything (inference: its code is not available; the rebuild follows what it printed)")


def _rule_cause_targets(ev, models):
    fixed = ev.get("anomaly", {}).get("fixed", {})
    return (_rebuild_text(ev.get("anomaly", {})), CONFIRMED if fixed.get("same_with_shuffled") else UNTESTABLE,
            "02 (a): fixed targets alone give the curve it printed")


def _rule_cause_untestable(ev, models):
    fixed = ev.get("anomaly", {}).get("fixed", {})
    return ("the fixed-target rebuild reproduces the curve without it" if fixed else NOT_BUILT, UNTESTABLE,
            "the earlier code is not available; the rebuild needs no such fault to fall to 0.01")


def _rule_cause_structure(ev, models):
    real = ev.get("anomaly", {}).get("real", {})
    if "shuffled_end" not in real:
        return NOT_BUILT, UNTESTABLE, "02 (c)"
    learns = real["shuffled_end"] > 1.5 * real["end"]
    return (f"the real loss on the true labels {real['start']:.2f} -> {real['end']:.2f}, with shuffled labels "
            f"-> {real['shuffled_end']:.2f}", CONFIRMED if learns else UNTESTABLE,
            "02 (c): a detection loss depends on the labels, which the rebuilt losses do not")


def _rule_fixed_loss(ev, models):
    synthetic = ev.get("anomaly", {}).get("synthetic", {})
    rebuilt = (f"a synthetic-target rebuild: {synthetic['start']:.2f} -> {synthetic['end']:.2f} (reg "
               f"{synthetic['reg']:.3f}); the same with shuffled labels: {yes_no(synthetic['same_with_shuffled'])}"
               if "start" in synthetic else NOT_BUILT)
    return (rebuilt, INCONSISTENT if SEED_REG == 0 < SEED_CLS else UNTESTABLE,
            f"its own loss terms after the fix (the row on balance): a box term of {SEED_REG:.3f} while the class "
            f"term is {SEED_CLS}, so no box was being regressed, which is not a detection loss training normally; "
            "02 (b) rebuilds a loss from those printed terms and its curve does not change when the labels are "
            "shuffled (inference: the earlier code is not available)")


def _rule_gradient_flow(ev, models):
    return ("not measured: the earlier code is not available", INCONSISTENT if SEED_REG == 0 < SEED_CLS else UNTESTABLE,
            f"its own loss terms (the row on balance): a box term of {SEED_REG:.3f} sends the box branch no gradient "
            "from its own loss, so not every branch had a reasonable gradient")


def _rule_standard_loss(ev, models):
    real = ev.get("anomaly", {}).get("real", {})
    measured = (f"this study's port of the official loss: {real['start']:.2f} -> {real['end']:.2f} on the true "
                f"labels, {real['shuffled_end']:.2f} with shuffled labels (02 (c))" if "shuffled_end" in real
                else NOT_BUILT)
    return (measured, INCONSISTENT if SEED_REG == 0 < SEED_CLS else UNTESTABLE,
            f"the loss it describes (cls, obj and noobj terms, a box term of {SEED_REG:.3f}: the rows above) is not "
            "the official Gold-YOLO loss (varifocal loss for the classes, SIoU or GIoU for the boxes, DFL for M and "
            "L; no objectness term), so it gave no standard implementation")


def _rule_gpu_memory(ev, models):
    peak = [r for r in ev.get("speed", []) if r["form"] == "deploy" and r["batch"] == 1]
    measured = (_gpu_scope("peak host memory of the whole process, " + ", ".join(
        f"{r['model']} {r['size']} px {r['peak RSS MiB']:.0f} MiB" for r in peak)) if peak else NOT_BUILT)
    return measured, UNTESTABLE, "a claim about Jittor on a GPU; nothing here ran on one"


def _rule_balanced(ev, models):
    synthetic = ev.get("anomaly", {}).get("synthetic", {})
    measured = f"the synthetic-target rebuild: reg {synthetic['reg']:.3f}" if "reg" in synthetic else NOT_BUILT
    return (measured, INCONSISTENT if SEED_REG == 0 < SEED_CLS else CONSISTENT,
            f"its own numbers: a box term of {SEED_REG:.3f} beside a class term of {SEED_CLS} is no balance; no box "
            "is being regressed")


def _rule_training_time(ev, models):
    train = ev.get("train", {})
    agree = abs(SEED_EPOCHS * SEED_EPOCH_S / 60 - SEED_MINUTES) < 0.05
    measured = (f"{train['epochs']} epochs of {train.get('model')} at {train.get('img_size')} px on "
                f"{ev.get('hardware', 'this CPU')}" + (f": {train['minutes']:.1f} min in its training loops (as the "
                                                       "run recorded them, not a timing)" if "minutes" in train
                                                       else "")
                ) if train else NOT_BUILT
    minutes = SEED_EPOCHS * SEED_EPOCH_S / 60
    own = (f"its two figures agree ({SEED_EPOCHS} x {SEED_EPOCH_S} s = {minutes:.1f} min)" if agree
           else f"its two figures disagree ({SEED_EPOCHS} x {SEED_EPOCH_S} s = {minutes:.1f} min)")
    return measured, UNTESTABLE, own + "; a GPU time, not testable on this CPU"


def _rule_speed(ev, models):
    speed = pd.DataFrame(ev.get("speed", []))
    best, _ = headline_rows(speed) if len(speed) else (None, None)
    measured = (_gpu_scope(f"the fastest inference setting of this build's benchmark: {best['images/s']:.1f} "
                           f"images/s, {best.model} {best['size']} px batch {best.batch}") if best is not None
                else NOT_BUILT)
    return (measured, UNTESTABLE, f"6,352.7 FPS and 0.16 ms are one figure (1 / {SEED_FPS} s = "
            f"{1e3 / SEED_FPS:.3f} ms); the report names neither the input size nor the batch")


def _rule_memory(ev, models):
    weights_mib = SEED_PARAMS * 4 / 2**20
    peak = [r for r in ev.get("speed", []) if r["form"] == "deploy" and r["batch"] == 1]
    measured = ("peak process memory here: " + ", ".join(f"{r['model']} {r['size']} px {r['peak RSS MiB']:.0f} "
                                                          "MiB" for r in peak)) if peak else NOT_BUILT
    return (measured, INCONSISTENT if weights_mib > SEED_MEMORY_MB else CONSISTENT,
            f"its own {SEED_PARAMS:,} parameters take {weights_mib:.1f} MiB in float32, more than the {SEED_MEMORY_MB} "
            "MB it reports for the whole run")


def _rule_confidence(ev, models):
    synthetic = ev.get("anomaly", {}).get("synthetic", {})
    score = synthetic.get("mean_class_score")
    if score is None:
        return NOT_BUILT, UNTESTABLE, "02 (b)"
    return (f"{score:.3f}: the synthetic-target rebuild's mean class score at its objects",
            CONSISTENT if near_target_mean(score) else UNTESTABLE,
            "with targets that ignore the labels: random soft targets U(0, 1) average 0.5, which a run fitting them "
            "approaches; the number says nothing about detection")


def _rule_pytorch(ev, models):
    text, _ = _ratio_text(ev)
    return (text, INCONSISTENT, "the earlier report gives no PyTorch number")


def _rule_test_set(ev, models):
    train = ev.get("train", {})
    measured = (f"AP {train['AP']:.4f}, AP50 {train['AP50']:.4f} after {train['epochs']} epochs on the 200 test "
                "images" if "AP" in train else NOT_BUILT)
    return measured, INCONSISTENT, "the earlier report gives no accuracy number"


def _rule_jit(ev, models):
    options = {s["model"]: s for s in ev.get("cpu_options", {}).get("settings", [])
               if s["mode"] == "deploy" and s["batch"] == 1}
    parts = [f"{name.split('-')[-1].upper()} 640 px: Jittor's own convolution "
             f"{s['variants']['jittor-ownconv']['ratio_to_torch']:.2f} of PyTorch's time"
             for name, s in options.items() if "jittor-ownconv" in s["variants"]]
    return (_gpu_scope("; ".join(parts)) if parts else _ratio_text(ev)[0], UNTESTABLE,
            "interleaved timings on this CPU; the claim was made for a GPU")


def _rule_edge(ev, models):
    speed = pd.DataFrame(ev.get("speed", []))
    n = speed[(speed.model == "gold_yolo-n") & (speed.batch == 1) & (speed.form == "deploy")] if len(speed) else speed
    measured = (f"{n.iloc[0]['median ms']:.0f} ms per 640 px image for Gold-YOLO-N on {ev.get('hardware')}"
                if len(n) else NOT_BUILT)
    return measured, UNTESTABLE, "no edge device here; the 4.7 MB it rests on is inconsistent (above)"


def _rule_stable(ev, models):
    return ("the loss it trained does not depend on the labels (02)" if ev.get("anomaly") else NOT_BUILT, UNTESTABLE,
            "the earlier report shows no training curve; inference: a stable curve of a loss that ignores the labels "
            "says nothing about detection training")


def _rule_api(ev, models):
    parity = ev.get("parity", {})
    return ("this port keeps the official module and parameter names: official weights load by name, strictly, "
            "and give the official outputs" + (" (notebook 04)" if parity else ""), CONSISTENT,
            "a one-to-one port was possible; that is what the claim says, and no more")


RULES = {"environment": _rule_environment, "dataset": _rule_dataset, "model_config": _rule_model_config,
         "param_count": _rule_param_count, "implemented": _rule_implemented, "first_loss": _rule_first_loss,
         "cause_targets": _rule_cause_targets, "cause_bce": _rule_cause_untestable,
         "cause_gradient": _rule_cause_untestable, "cause_structure": _rule_cause_structure,
         "fixed_loss": _rule_fixed_loss, "balanced": _rule_balanced, "training_time": _rule_training_time,
         "speed": _rule_speed, "memory": _rule_memory, "confidence": _rule_confidence,
         "pytorch_comparison": _rule_pytorch, "test_set": _rule_test_set, "jit_speedup": _rule_jit,
         "edge": _rule_edge, "stable": _rule_stable, "api": _rule_api, "gradient_flow": _rule_gradient_flow,
         "standard_loss": _rule_standard_loss, "gpu_memory": _rule_gpu_memory}


def register(evidence: Dict, models: Dict) -> pd.DataFrame:
    """Every claim of the earlier report, quoted, beside what was measured here, with its verdict and reason.

    ``evidence``: ``evidence.gather(run_dir)``; ``models``: model name -> ``model_info`` of the deploy form at
    640 px, for every size (their parameter counts judge the model the earlier report described)."""
    from .seed_claims import SEED_CLAIMS
    rows = []
    for claim in SEED_CLAIMS:
        measured, verdict, reason = RULES[claim.key](evidence, models)
        words = claim.original.replace("**", "")  # the report's bold marks, not its words
        rows.append({"claim": f"{claim.english}. In its words: “{words}” ({claim.where})", "key": claim.key,
                     "measured here": readable(measured), "verdict": verdict, "why": readable(reason)})
    return pd.DataFrame(rows)


def verdict_legend() -> pd.DataFrame:
    """The verdicts and what each means."""
    return pd.DataFrame(list(VERDICTS.items()), columns=["verdict", "meaning"])
