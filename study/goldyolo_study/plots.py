"""The report's figures; each function draws one and returns it (the notebook shows it)."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from goldyolo.data.augment import normalised_to_pixels

from .anomaly_tables import TRUE
from .style import ap_text, plural, readable

STYLES = ("-", "--")  # true labels solid, shuffled labels dashed


def category_bars(counts: pd.DataFrame) -> plt.Figure:
    """Boxes per category and split (``dataset_tables.category_counts``, most boxes first) as horizontal grouped
    bars in columns of at most 20 categories (up to four), so that every name is legible and the figure fits half
    a printed page."""
    columns = min(4, -(-len(counts) // 20))
    rows = -(-len(counts) // columns)
    parts = [counts.iloc[i * rows:(i + 1) * rows] for i in range(columns)]
    fig, axes = plt.subplots(1, columns, figsize=(10, max(3.0, 0.17 * rows + 0.9)), squeeze=False, sharex=True)
    positive = counts.values[counts.values > 0]
    log = len(positive) and positive.max() > 10 * positive.min()  # person alone has thousands: log keeps the rest
    for ax, part in zip(axes[0], parts):
        part.iloc[::-1].plot.barh(ax=ax, width=0.8, legend=ax is axes[0][-1], logx=bool(log))
        ax.set_xlabel("boxes" + (" (log scale)" if log else ""))
        ax.set_ylabel("")
        ax.tick_params(axis="y", labelsize=9.5)
    if len(parts) > 1:
        axes[0][-1].legend(loc="lower right")  # the last column ends in the shortest bars
    fig.suptitle("Boxes per category, most first" + (" (the columns continue left to right)" if len(parts) > 1 else ""),
                 fontsize=10)
    plt.tight_layout()
    return fig


def box_sizes(boxes: pd.DataFrame) -> plt.Figure:
    """Histogram of sqrt(area) per split, and width against height of at most 2,000 boxes (fixed sample)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    sns.histplot(data=boxes, x=boxes["area"] ** 0.5, hue="split", bins=50, stat="density", common_norm=False,
                 ax=axes[0])
    axes[0].set_xlabel("sqrt(area) (pixels)")
    axes[0].set_ylabel("density (per pixel)")
    sns.scatterplot(data=boxes.sample(min(2000, len(boxes)), random_state=0), x="w", y="h", hue="split", s=8,
                    ax=axes[1])
    axes[1].set(title="box width and height (at most 2,000 sampled)", xlabel="width (pixels)",
                ylabel="height (pixels)")
    plt.tight_layout()
    return fig


def labelled_images(source, count: int = 6) -> plt.Figure:
    """The first ``count`` (at most 6) images of a ``CocoSource`` with their labelled boxes and class names (a name
    is left out where it would cover another)."""
    fig, axes = plt.subplots(2, 3, figsize=(10, 6))
    for ax, record in zip(axes.ravel(), source.records[:count]):
        image = plt.imread(record.path)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        placed = []
        for cls, x1, y1, x2, y2 in normalised_to_pixels(record.labels, record.width, record.height):
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="lime", lw=1.2))
            name = source.names[int(cls)]
            spot = _label_spot(name, (x1, y1, x2, y2), placed, (record.width, record.height), 8.5, (3.2, 2.6))
            if spot is not None:
                ax.text(spot[0], spot[1], name, color="black", backgroundcolor="lime", fontsize=8.5,
                        va="bottom" if spot[2] else "top")
        ax.set_title(f"{record.path.name} ({plural(len(record.labels), 'box')})", fontsize=9)
        ax.axis("off")
    plt.tight_layout()
    return fig


def fixed_target_curves(fixed: Dict[str, pd.DataFrame]) -> plt.Figure:
    """Fixed-target loss per step (log scale) for each labelling, with the original report's 0.85 and 0.01."""
    fig, ax = plt.subplots(figsize=(7, 3.0))
    for (label, df), style in zip(fixed.items(), STYLES):
        ax.plot(df.step, df.loss, style, label=label)
    for value in (0.85, 0.01):  # labelled at the right end, clear of the curves' start
        ax.axhline(value, color="gray", lw=0.8, ls=":")
        ax.text(1.0, value, f"original: {value} ", va="bottom", ha="right", color="gray", fontsize=9,
                transform=ax.get_yaxis_transform())
    ax.set_yscale("log")
    highest = max(0.85, max(float(df.loss.max()) for df in fixed.values()))
    ax.set_ylim(top=highest * 3)  # room above the top line for its label
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("fixed-target loss")
    ax.legend()
    plt.tight_layout()
    return fig


def synthetic_target_curves(synthetic: Dict[str, pd.DataFrame]) -> plt.Figure:
    """Synthetic-target total per labelling (original 2.48 and 0.78 marked), and the true labels' components."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for (label, df), style in zip(synthetic.items(), STYLES):
        axes[0].plot(df.step, df.loss, style, label=f"total, {label}")
    for value in (2.48, 0.78):
        axes[0].axhline(value, color="gray", lw=0.8, ls=":")
        axes[0].text(1.0, value, f"original: {value} ", va="bottom", ha="right", color="gray", fontsize=9,
                     transform=axes[0].get_yaxis_transform())
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("loss (reg + cls + obj + noobj)")
    axes[0].set_title("synthetic-target loss (original: 2.48 → 0.78)")
    axes[0].legend(loc="upper center")
    true = synthetic[TRUE]
    for key in ("reg", "cls", "obj", "noobj"):
        if (true[key] == 0).all():  # a line on the axis would not be seen: the legend says so instead
            axes[1].plot([], [], " ", label=f"{key}: 0 at every step")
        else:
            axes[1].plot(true.step, true[key], label=key)
    # random soft class targets U(0, 1): ln 2 per element for the best constant answer, 0.5 (their mean entropy)
    # when each fixed target is reproduced exactly
    # the two levels lie close together: one label above its line, the other below, at the right end
    for level, label, va in ((np.log(2), "ln 2: best constant answer ", "bottom"),
                             (0.5, "0.5: every target reproduced ", "top")):
        axes[1].axhline(level, color="gray", lw=0.8, ls=":")
        axes[1].text(1.0, level, label, va=va, ha="right", color="gray", fontsize=9,
                     transform=axes[1].get_yaxis_transform())
    axes[1].set_yscale("symlog", linthresh=1e-3)
    highest = max(float(true[key].max()) for key in ("reg", "cls", "obj", "noobj"))
    axes[1].set_ylim(bottom=0, top=highest * 2)  # losses are not negative; the highest start stays inside
    axes[1].set_xlabel("step")
    axes[1].set_ylabel("binary cross-entropy per element\n(log scale above 0.001)")
    axes[1].set_title("components (true labels)")
    axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=9, frameon=False)  # off the curves
    plt.tight_layout()
    return fig


def real_loss_curves(real: Dict[str, pd.DataFrame]) -> plt.Figure:
    """Real loss and positive anchors per step for each labelling, and the true labels' non-zero components."""
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6))
    for (label, df), style in zip(real.items(), STYLES):
        axes[0].plot(df.step, df.loss, style, label=label)
        axes[2].plot(df.step, df.num_pos, style, label=label)
    true = real[TRUE]
    for key in ("iou", "dfl", "cls"):
        if true[key].abs().sum() > 0:  # N has no DFL term: its column is all zeros
            axes[1].plot(true.step, true[key], label=key)
    axes[0].set(title="real loss", ylabel="loss (iou + dfl + cls)")
    axes[1].set(title="components (true labels, weighted)", ylabel="loss term")
    axes[2].set(title="positive anchors per batch", ylabel="anchors")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend()
    plt.tight_layout()
    return fig


def training_curves(history: pd.DataFrame, test_name: str) -> plt.Figure:
    """Loss components, learning rates, AP on ``test_name`` and time, per epoch of a training run."""
    fig, axes = plt.subplots(2, 2, figsize=(10, 5.0))  # short enough to share a page with the lines above it
    for key in ("loss", "iou_loss", "dfl_loss", "cls_loss"):
        if history[key].abs().sum() > 0:
            axes[0, 0].plot(history.epoch, history[key], "o-", ms=3,
                            label="total" if key == "loss" else readable(key))
    axes[0, 0].set(title="training loss per epoch (weighted components)", ylabel="loss (mean over the epoch)")
    axes[0, 0].legend()
    lrs = pd.DataFrame(history.lr.tolist(), columns=["batch-norm weights", "conv weights", "biases"])
    groups: Dict[str, List[str]] = {}  # groups on the same schedule share one line and one legend entry
    for column in lrs:
        same = next((first for first in groups if np.allclose(lrs[first], lrs[column])), column)
        groups.setdefault(same, []).append(column)
    for first, names in groups.items():
        axes[0, 1].plot(history.epoch, lrs[first], "o-", ms=3, label=" = ".join(names))
    axes[0, 1].set_yscale("log")
    axes[0, 1].set(title="learning rate at the end of each epoch", ylabel="learning rate (log scale)")
    axes[0, 1].legend()
    axes[1, 0].plot(history.epoch, history.AP50, "o-", ms=3, label="AP50")
    axes[1, 0].plot(history.epoch, history.AP, "s-", ms=3, label="AP 0.5:0.95")
    axes[1, 0].set(title=f"COCO AP on {test_name} (EMA weights)", ylabel="AP (fraction)")
    axes[1, 0].legend()
    axes[1, 1].bar(history.epoch, history.time_s, color="tab:gray")
    axes[1, 1].set_ylabel("seconds")
    axes[1, 1].set_title("time per epoch (training loop)")
    for ax in axes.ravel():
        ax.set_xlabel("epoch")
    plt.tight_layout()
    return fig


def per_class_and_pr(metrics: dict) -> plt.Figure:
    """The 30 best classes' AP and the class-mean precision-recall curves of ``evaluate``'s metrics; for one
    class, its precision-recall curves alone."""
    per_class = pd.Series(metrics["per_class_AP"]).sort_values(ascending=False)
    if len(per_class) == 1:
        fig, axis = plt.subplots(figsize=(6.5, 3.4))
        _pr_axes(axis, metrics.get("pr_curve"), "precision", whole_square=True)
        axis.set_title(f"precision-recall of {per_class.index[0]} (AP {ap_text(per_class.iloc[0])})")
        plt.tight_layout()
        return fig
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    above = per_class[per_class > 0]  # the classes at 0 are counted in the title, not drawn as empty bars
    if len(above):
        above.head(30).plot.bar(ax=axes[0], color="tab:blue")
    else:
        axes[0].text(0.5, 0.5, "no detections above the confidence threshold" if not len(per_class) else
                     "AP 0 for every class", ha="center", transform=axes[0].transAxes)
    axes[0].set_ylabel("AP 0.5:0.95")
    axes[0].set_title(f"per-class AP, the 30 best of {len(per_class)} classes" if len(above) >= 30 else
                      f"per-class AP: {len(above)} of {len(per_class)} classes above 0, the others at 0")
    _pr_axes(axes[1], metrics.get("pr_curve"), "precision (class mean)")
    axes[1].set_title("precision-recall")
    plt.tight_layout()
    return fig


def _pr_axes(axis, curve: Optional[dict], ylabel: str, whole_square: bool = False) -> None:
    """Precision against recall at IoU 0.5 and averaged over 0.5:0.95, when ``curve`` is given; ``whole_square``
    shows both axes from 0 to 1 (else precision is scaled to the curve, for a model whose precision is tiny)."""
    if curve:
        for key in ("IoU=0.50", "IoU=0.50:0.95"):
            axis.plot(curve["recall"], curve[key], label=key)
        axis.set_xlabel("recall")
        axis.set_ylabel(ylabel)
        if whole_square:
            axis.set_xlim(0, 1)
            axis.set_ylim(0, 1.02)
        axis.legend()


def _label_spot(text: str, box, placed: List[Tuple[float, float, float, float]], image_size: Tuple[float, float],
                fontsize: float = 8, axes_inches: Tuple[float, float] = (6.5, 4.7)):
    """Where a box's label goes without covering one already placed: above its top-left corner, else below
    its bottom-left corner, inside the image (not over the title); None when neither fits. The label's size in
    image pixels is estimated from the font size (with its background's padding) and the size the image is drawn
    at: ``image_size`` (width, height) pixels fitted into axes of ``axes_inches`` (width, height), aspect kept.
    Returns (x, y, above) and records the spot."""
    (image_width, image_height), (box_w, box_h) = image_size, axes_inches
    drawn_inches = min(box_w, box_h * image_width / image_height)
    pixels_per_point = image_width / (drawn_inches * 72)
    width = (len(text) * 0.62 * fontsize + 0.6 * fontsize) * pixels_per_point
    height = 1.8 * fontsize * pixels_per_point
    x1, y1, _, y2 = box
    for x, y, above in ((x1, y1, True), (x1, y2, False)):
        rect = (x, y - height, x + width, y) if above else (x, y, x + width, y + height)
        inside = rect[1] >= 0 and rect[3] <= image_height
        if inside and all(rect[2] <= p[0] or p[2] <= rect[0] or rect[3] <= p[1] or p[3] <= rect[1] for p in placed):
            placed.append(rect)
            return x, y, above
    return None


def detections(records: Sequence, found: Sequence, names: Sequence[str], score_thres: float,
               columns: int = 2, top: int = 10) -> plt.Figure:
    """Images in a grid: the ``top`` highest-scoring predictions (orange, class and score) over the labelled
    boxes (green, dashed); a weak model's hundreds of boxes would hide the image.

    ``found``: per record, (BGR image (H, W, 3) uint8, detections (n, 6) [x1, y1, x2, y2, score, class] pixels)."""
    from matplotlib.lines import Line2D
    rows = max(1, -(-len(records) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 5.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, record, (image, det) in zip(axes.flat, records, found):
        ax.imshow(image[:, :, ::-1])
        for _cls, cx, cy, w, h in record.labels:
            ax.add_patch(plt.Rectangle(((cx - w / 2) * record.width, (cy - h / 2) * record.height), w * record.width,
                                       h * record.height, fill=False, color="lime", lw=1.5, ls="--"))
        shown = det[np.argsort(-det[:, 4], kind="stable")[:top]] if len(det) else det
        placed = []
        for x1, y1, x2, y2, score, cls in shown:
            ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="darkorange", lw=2))
            text = f"{names[int(cls)]} {score:.2f}"
            spot = _label_spot(text, (x1, y1, x2, y2), placed, (record.width, record.height))
            if spot is not None:
                ax.text(spot[0], spot[1], text, color="black", backgroundcolor="darkorange", fontsize=8,
                        va="bottom" if spot[2] else "top")
        ax.set_title(f"{record.path.name}: {plural(len(det), 'prediction')}" +
                     (f", the {top} best drawn" if len(det) > top else ""))
    handles = [Line2D([], [], color="darkorange", lw=2,
                      label=f"prediction (score ≥ {score_thres}, at most {top} per image; "
                            "a label is left out where it would cover another)"),
               Line2D([], [], color="lime", lw=1.5, ls="--", label="ground truth")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=11)
    plt.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def comparison_curves(result: dict) -> plt.Figure:
    """compare-train's overlay: loss items, learning rate and AP per epoch of both trainers and all seeds."""
    from goldyolo.compare.train_compare import figure
    return figure(result["runs"])


def parity_curves(result: dict) -> plt.Figure:
    """compare-steps: the total loss of each step, and its relative difference from the official trainer's
    for goldyolo and for the control (log scale)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = {"official": "tab:orange", "goldyolo": "tab:blue", "control": "tab:gray"}
    for name, steps in result["steps"].items():
        axes[0].plot([s["step"] for s in steps], [sum(s["items"]) for s in steps], color=colours[name],
                     label=name, lw=1.2, ls="--" if name == "control" else "-")
    for name in ("goldyolo", "control"):
        diff = result[name]["step_differences"]["total_loss"]
        axes[1].semilogy(range(len(diff)), diff, "o-", ms=3, color=colours[name], label=f"{name} vs official")
    axes[0].set(title="training loss of each step", xlabel="step", ylabel="loss (iou + dfl + cls)")
    axes[1].set(title="relative difference from the official trainer", xlabel="step", ylabel="|Δloss| / loss")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    plt.tight_layout()
    return fig


def schedule_and_ap(history: pd.DataFrame, warmup_epochs: float, title: str) -> plt.Figure:
    """Conv-weight learning rate at each epoch's end with the warm-up's end marked, and AP50 / AP of the
    evaluated epochs on a second axis."""
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.plot(history.epoch, history.lr.map(lambda groups: groups[1]), "o-", ms=3, color="tab:green",
            label="lr, conv weights")
    ax.axvline(warmup_epochs - 0.5, color="tab:gray", ls=":", label="end of warm-up")
    ax.set(xlabel="epoch", ylabel="learning rate", title=title)
    twin = ax.twinx()
    evaluated = history.dropna(subset=["AP"])
    twin.plot(evaluated.epoch, evaluated.AP50, "s-", ms=4, color="tab:blue", label="AP50")
    twin.plot(evaluated.epoch, evaluated.AP, "^-", ms=4, color="tab:purple", label="AP 0.5:0.95")
    twin.set_ylabel("AP on the test images")
    lines = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    # below the axes: inside, it would cover the learning rate's rise or the AP's
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=len(lines), fontsize=9, frameon=False)
    plt.tight_layout()
    return fig


def scores_and_counts(detections: Sequence[dict], counts: pd.Series, cap: int, conf_thres: float) -> plt.Figure:
    """Histogram of detection scores (log count axis) and of detections per image, with the cap marked; when at
    least 90% of the images keep the same number, the title says so (and the others' range) instead of a
    histogram of one bar."""
    top = counts.value_counts()
    same = len(counts) == 0 or top.iloc[0] >= 0.9 * len(counts)
    fig, axes = plt.subplots(1, 1 if same else 2, figsize=(6 if same else 10, 3.6), squeeze=False)
    axes = axes[0]
    scores = np.array([d["score"] for d in detections])
    axes[0].hist(scores, bins=50, range=(0, 1), color="tab:blue")
    axes[0].set_yscale("log")
    axes[0].set_xlabel(f"score (kept from {conf_thres})")
    axes[0].set_ylabel("detections")
    title = f"{len(scores):,} detections on {len(counts)} images"
    if same:
        count = int(top.index[0]) if len(counts) else 0
        others = counts[counts != count]
        title += (f"\n{'every image' if others.empty else f'{top.iloc[0]} of {len(counts)} images'} keep"
                  f"{'s' if others.empty else ''} {count}" + (f" (the cap of {cap})" if count == cap else "")
                  + ("" if others.empty else f", the others {int(others.min())}-{int(others.max())}"))
    axes[0].set_title(title)
    if not same:
        axes[1].hist(counts.values, bins=30, color="tab:orange")
        axes[1].axvline(cap, color="black", ls="--", label=f"cap: {cap} per image")
        axes[1].set_xlabel("detections kept per image")
        axes[1].set_ylabel("images")
        axes[1].legend()
    plt.tight_layout()
    return fig


def speed_ab(result: dict) -> plt.Figure:
    """Jittor / PyTorch time per setting with its 95% interval and each invocation's ratio (``speed-ab``)."""
    settings = result.get("settings", [])
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * len(settings) + 1.4))
    for i, s in enumerate(settings):
        ax.errorbar(s["ratio"], i, xerr=[[s["ratio"] - s["ci_low"]], [s["ci_high"] - s["ratio"]]], fmt="o",
                    color="tab:blue", capsize=4, label="pooled ratio, 95% interval" if i == 0 else None)
        ax.scatter(s["invocation_ratios"], [i + 0.25] * len(s["invocation_ratios"]), marker="x", s=25,
                   color="tab:gray", label="ratio of one invocation's medians" if i == 0 else None)
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(settings)),
                  [f"{s['model'].split('-')[-1].upper()} {s['img_size']} px, batch {s['batch']}, "
                   f"{readable(s['mode'])}" for s in settings])
    ax.set_xlabel("Jittor time / PyTorch time (below 1: Jittor faster)")
    ax.set_ylim(len(settings) - 0.4, -0.6)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
