"""The bench layer's figures: a benchmark run's times beside the official model's, and a soak run's memory."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from .tables import _precision


def plot(report: Dict, path: Path) -> Path:
    """:func:`figure` of ``report`` written to ``path`` (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = figure(report)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def figure(report: Dict):
    """Median time per batch (one panel per batch size, so batch 1 stays readable beside batch 32; a log axis
    where a panel's values span more than a factor of 10) with p10-p90 bars, beside the official PyTorch
    model's: timed in this run (``--torch-reference``, with its
    spread), else the recorded medians."""
    import matplotlib.pyplot as plt
    done = [m for m in report["measurements"] if "stats_ms" in m]
    recorded = {(r["model"], r["img_size"], r["batch"], r["mode"]): r["torch_median_ms"]
                for r in report["reference"].get("comparisons", [])}
    batches = sorted({m["batch"] for m in done}) or [0]
    fig, axes = plt.subplots(1, len(batches), figsize=(max(5.0, 3.2 * len(batches) + 1), 4), squeeze=False)

    def spread(stats):
        return [[stats["median"] - stats["p10"]], [stats["p90"] - stats["median"]]]
    for ax, batch in zip(axes[0], batches):
        rows = [m for m in done if m["batch"] == batch]
        heights = []
        for i, m in enumerate(rows):
            heights.append(m["stats_ms"]["median"])
            ax.bar(i - 0.2, m["stats_ms"]["median"], 0.4, yerr=spread(m["stats_ms"]), capsize=4, color="tab:blue",
                   label="Jittor (median, p10-p90)" if i == 0 else None)
            torch_stats = m.get("torch", {}).get("stats_ms")
            key = (m["model"], m["img_size"], m["batch"], m["mode"])
            if torch_stats:
                heights.append(torch_stats["median"])
                ax.bar(i + 0.2, torch_stats["median"], 0.4, yerr=spread(torch_stats), capsize=4, color="tab:orange",
                       label="official PyTorch, this run (median, p10-p90)" if i == 0 else None)
            elif key in recorded:
                heights.append(recorded[key])
                ax.bar(i + 0.2, recorded[key], 0.4, color="tab:orange", hatch="//",
                       label="official PyTorch, recorded (median)" if i == 0 else None)
        ax.set_xticks(range(len(rows)), [f"{m['mode']}{_precision(m)}" for m in rows])
        wide = bool(heights) and max(heights) > 10 * min(heights)
        if wide:
            ax.set_yscale("log")
        ax.set_ylabel("ms per batch (log scale)" if wide else "ms per batch")
        ax.set_title(f"batch {batch}")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{report['settings']['model']} at {report['settings']['img_size']} px, "
                 f"{report['settings']['device']}: {report['hardware']['cpu_model']}", fontsize=9)
    fig.tight_layout()
    return fig


def soak_figure(result: Dict):
    """RSS, Jittor's allocator and live Jittor variables against the iteration; the warm-up, left out of the slope,
    shaded and named in the legend."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    samples, summary = result["samples"], result["summary"]
    iterations = [s["iteration"] for s in samples]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(iterations, [s["rss_mib"] for s in samples], color="tab:blue", label="resident memory (MiB)")
    ax.plot(iterations, [s["jittor_allocated_mib"] for s in samples], color="tab:blue", ls="--",
            label="held by Jittor's allocator (MiB)")
    ax.set_xlabel("training iteration")
    ax.set_ylabel("MiB", color="tab:blue")
    ax.set_ylim(0, max(s["rss_mib"] for s in samples) * 1.15)
    ax.axvspan(0, summary["warmup_iterations"], color="0.9")
    twin = ax.twinx()
    live = [s["live_vars"] for s in samples]
    twin.plot(iterations, live, color="tab:orange", lw=2, label="live Jittor variables (right axis)")
    twin.set_ylim(0, max(live) * 1.6)  # below the memory lines' tops, so a constant count stays visible
    twin.set_ylabel("live Jittor variables", color="tab:orange")
    handles = (ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
               + [Patch(color="0.9", label="warm-up, left out of the slope")])
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    cfg = result["config"]
    name = "Gold-YOLO-" + cfg["model"].rsplit("-", 1)[-1].upper()  # gold_yolo-n as the paper names it
    ax.set_title(f"{name} at {cfg['img_size']} px, batch {cfg['batch_size']}: "
                 f"{summary['rss_slope_mib_per_1000_iterations']:+.1f} MiB per 1,000 iterations after warm-up")
    fig.tight_layout()
    return fig


def plot_soak(result: Dict, path: str | Path) -> None:
    """:func:`soak_figure` written to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = soak_figure(result)
    fig.savefig(path, dpi=110)
    plt.close(fig)
