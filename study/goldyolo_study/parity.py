"""Notebook 04's model-parity tables and sentences, read from the parity-report json
(:mod:`goldyolo.compare.model_parity`)."""
from __future__ import annotations

from typing import Dict, List

from goldyolo.compare.model_parity import MODEL_SIZE


def model_table(report: Dict):
    """The four models' counts (deploy form, as the paper counts them) beside the paper's, from parity.json."""
    import pandas as pd

    from .style import model_label
    size = report.get("model_img_size", MODEL_SIZE)
    return pd.DataFrame([{"model": model_label(row["model"]),
                          "params (M)": round(row["params"] / 1e6, 2),
                          "paper params (M)": row["paper_params_M"], f"GFLOPs ({size} px)": round(row["gflops"], 2),
                          "paper GFLOPs": row["paper_gflops"],
                          "training-form params (M)": round(row["training_params"] / 1e6, 2),
                          "paper COCO AP": row["paper_ap"]} for row in report.get("models", [])])


# the parity table's numeric columns: (header, parity.json key)
PARITY_KEYS = (("eval box (px)", "eval_box_px"), ("eval score", "eval_score"), ("deploy box (px)", "deploy_box_px"),
               ("deploy score", "deploy_score"), ("train cls", "train_cls_vs_official"),
               ("train reg", "train_reg_vs_official"), ("official cls vs f64", "official_train_cls_vs_float64"),
               ("goldyolo cls vs f64", "train_cls_vs_float64"))
PARITY_COLUMNS = [header for header, _ in PARITY_KEYS]


def parity_table(report: Dict):
    """Largest absolute differences from the official model per size (``sizes`` of parity.json); the last two
    columns are the official float32 model's and goldyolo's training-mode class outputs against float64."""
    import pandas as pd
    return pd.DataFrame([{"size": size.upper(), "input": "x".join(str(n) for n in entry["input"]),
                          **{header: entry[key] for header, key in PARITY_KEYS}}
                         for size, entry in report.get("sizes", {}).items()])


def parity_sentences(report: Dict) -> List[str]:
    """What the parity table shows, in numbers read from it."""
    sizes = report.get("sizes", {})
    if not sizes:
        return ["No parity run is recorded (`python -m goldyolo parity-report`)."]
    names = ", ".join(size.upper() for size in sizes)
    worst = lambda key: max(entry[key] for entry in sizes.values())  # noqa: E731
    first, last = next(iter(sizes)), list(sizes)[-1]
    noise = sizes[last]["official_train_cls_vs_float64"] / max(sizes[first]["official_train_cls_vs_float64"], 1e-30)
    return [
        f"On the same weights, goldyolo's eval-mode and deploy outputs for {names} equal the official model's "
        f"within {max(worst('eval_box_px'), worst('deploy_box_px')):.1e} px for boxes and "
        f"{max(worst('eval_score'), worst('deploy_score')):.1e} for scores.",
        f"Training-mode class probabilities differ by at most {worst('train_cls_vs_official'):.1e} and regression "
        f"outputs by {worst('train_reg_vs_official'):.1e}. In training mode batch normalisation uses the batch's "
        f"statistics, which amplifies float32 rounding with depth: the official float32 model is itself "
        f"{sizes[first]['official_train_cls_vs_float64']:.1e} ({first.upper()}) to "
        f"{sizes[last]['official_train_cls_vs_float64']:.1e} ({last.upper()}, {noise:.1f} times {first.upper()}'s) "
        "away from "
        f"its float64 result, and goldyolo {sizes[first]['train_cls_vs_float64']:.1e} to "
        f"{sizes[last]['train_cls_vs_float64']:.1e}. The tests therefore compare training-mode outputs with the "
        f"float64 result, within the reference's float32 bound (1e-4 / 2e-3) or five times the official float32 "
        f"model's own error, whichever is larger.",
    ]


PARITY_CAPTION = ("Largest absolute differences from the official model's outputs; box in pixels; cls: class "
                  "probabilities, reg: raw regression outputs (training mode); f64: the official model run in "
                  "float64 on the same weights.")
