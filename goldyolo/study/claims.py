"""The summary's register of the earlier report's claims beside what this study measured."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import pandas as pd

from .anomaly_tables import near_target_mean, yes_no

LAZY_TIMER = ("the original timed a 9.3M-parameter stand-in and its number cannot be reproduced (Jittor runs "
              "lazily: a timer that does not wait for the computation measures only the queuing of the work)")


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


REFUTED, CONSISTENT, UNTESTABLE = "refuted", "consistent", "untestable here"
NOT_BUILT = "not in this build"


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


def register(evidence: Dict, s_deploy) -> pd.DataFrame:
    """Every claim of the earlier report: claimed, measured here, verdict and where the evidence is.

    ``evidence``: ``evidence.gather(run_dir)``; ``s_deploy``: ``model_info`` of Gold-YOLO-S in deploy form at
    640 px. Verdicts: refuted, consistent, untestable here; a measurement missing from ``evidence`` reads
    "not in this build"."""
    speed, hardware = _speed_rows(evidence), evidence.get("hardware", "this machine")
    best, bs1 = headline_rows(speed) if len(speed) else (None, None)
    weights_mib = s_deploy.params * 4 / 2**20
    anomaly, train = evidence.get("anomaly", {}), evidence.get("train", {})
    fixed, synthetic, real = anomaly.get("fixed", {}), anomaly.get("synthetic", {}), anomaly.get("real", {})
    n_bs1 = speed[(speed.model == "gold_yolo-n") & (speed.batch == 1) & (speed.form == "deploy")] \
        if len(speed) else speed
    ratio_text, ratio_verdict = _ratio_text(evidence)
    versions = evidence.get("versions", {})
    rows = [
        ("6,352.7 FPS",
         f"{best['images/s']:.1f} images/s at most ({best.model}, {best['size']} px, batch {best.batch}; {hardware})"
         if best is not None else NOT_BUILT, REFUTED, "04 speed; " + LAZY_TIMER),
        ("0.16 ms per image",
         f"{bs1['median ms']:.1f} ms ({bs1.model}, {bs1['size']} px, batch 1)" if bs1 is not None else NOT_BUILT,
         REFUTED, f"04 speed; Gold-YOLO-S needs {s_deploy.gflops:.1f} GFLOPs per 640 px image: 0.16 ms would take "
                  f"{s_deploy.gflops / 0.16e-3 / 1e3:.0f} TFLOP/s sustained"),
        ("4.7 MB memory",
         (f"{bs1['peak RSS MiB']:.0f} MiB peak process memory ({bs1.model}, batch 1); " if bs1 is not None else "")
         + f"{weights_mib:.0f} MiB of float32 weights (S)", REFUTED,
         f"04 speed and memory; the weights alone of Gold-YOLO-S take {weights_mib:.0f} MiB"),
        ("9,344,468 parameters (9,325,780 trainable)",
         f"{s_deploy.params:,} in Gold-YOLO-S (deploy form; paper 21.5M)", REFUTED,
         "04 the model against the official one (counts beside the paper's; outputs equal the official model's): "
         "the earlier model was a stand-in, not Gold-YOLO-S"),
        ("loss 0.85 -> 0.01: the model learns",
         f"a fixed-target rebuild: {fixed['start']:.2f} -> {fixed['end']:.3f}, identical with shuffled labels: "
         f"{yes_no(fixed['same_with_shuffled'])}" if fixed else NOT_BUILT, REFUTED,
         "02 (a): the target ignores the image and the labels"),
        ("'fixed' loss 2.48 -> 0.78 (reg 0.000, cls 0.684, obj 0.070, noobj 0.025)",
         (f"a synthetic-target rebuild: {synthetic['start']:.2f} -> {synthetic['end']:.2f} (reg {synthetic['reg']:.3f})"
          f", identical with shuffled labels: {yes_no(synthetic['same_with_shuffled'])}; the real loss on the labels "
          f"{real['start']:.2f} -> {real['end']:.2f}" if synthetic and real else NOT_BUILT), REFUTED,
         "02 (b), (c): targets from a generator, not the labels; no box target (reg = 0)"),
        ("four causes of the anomaly, among them a 'gradient forcing term' and the weights "
         "coord 5, cls 1, obj 1, reg 0.5",
         "the rebuilt curves do not change when the labels are shuffled" if fixed and synthetic else NOT_BUILT,
         REFUTED, "02: one cause, targets that do not depend on the labels; no weighting of the terms changes that"),
        ("mean confidence 0.521",
         f"{synthetic['mean_class_score']:.3f}: mean class score at the synthetic objects after the rebuild's run"
         if "mean_class_score" in synthetic else NOT_BUILT,
         CONSISTENT if near_target_mean(synthetic.get("mean_class_score", -1.0)) else UNTESTABLE,
         "02 (b): random soft targets U(0, 1) have mean 0.5, which the scores approach as the run fits them; "
         "the number says nothing about detection"),
        ("training took 8.8 min (17.6 s per epoch) on an RTX 4060",
         f"{train['epochs']} epochs of {train.get('model')} at {train.get('img_size')} px on {hardware}"
         if train else NOT_BUILT, UNTESTABLE,
         "03: no RTX 4060 here, and no GPU run yet: not testable on this CPU"),
        ("verified on the standard test set (no AP given)",
         f"AP {train['AP']:.4f}, AP50 {train['AP50']:.4f} after {train['epochs']} epochs on the 200 test images"
         if "AP" in train else NOT_BUILT, UNTESTABLE, "03, 04: nothing to compare with; COCO AP by pycocotools"),
        ("a performance advantage from Jittor's JIT", ratio_text, ratio_verdict,
         "04 speed: ratios below 1 favour Jittor"),
        ("suitable for edge devices",
         f"{n_bs1.iloc[0]['median ms']:.0f} ms per 640 px image for Gold-YOLO-N on {hardware}" if len(n_bs1)
         else NOT_BUILT, UNTESTABLE, "04: no edge device here"),
        ("environment: Jittor 1.3.9.14, CUDA 12.2, Python 3.7",
         f"Jittor {versions['jittor']}, Python {versions['python']} on {hardware}" if versions else NOT_BUILT,
         UNTESTABLE, "title page: the study's own environment; the earlier one was not rebuilt here"),
    ]
    return pd.DataFrame(rows, columns=["claim", "measured here", "verdict", "evidence"])
