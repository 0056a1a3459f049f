"""Memory steadiness: the soak run's samples, its verdict, and that it catches a leak."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from goldyolo.bench.soak import current_rss_mib, soak, summarize_samples
from goldyolo.engine.trainer import TrainConfig, Trainer
from goldyolo.runtime import jt

from conftest import SAMPLE


def soak_config(out) -> TrainConfig:
    return TrainConfig(model="gold_yolo-n", data=str(SAMPLE / "train.json"), images=str(SAMPLE / "images"),
                       out=str(out), img_size=64, batch_size=4, stop_aug_last_n_epoch=0)


def test_summary_slope_and_verdict():
    samples = [{"iteration": i, "rss_mib": 500 + 0.02 * i, "live_vars": 7, "kernels": 3} for i in range(0, 1001, 100)]
    summary = summarize_samples(samples, warmup_fraction=0.2, tolerance_mib_per_1000=10)
    assert summary["warmup_iterations"] == 200
    assert summary["rss_slope_mib_per_1000_iterations"] == pytest.approx(20.0)
    assert summary["rss_growth_after_warmup_mib"] == pytest.approx(16.0)
    assert not summary["flat"]
    assert summarize_samples(samples, 0.2, tolerance_mib_per_1000=25)["flat"]
    samples[-1]["live_vars"] = 8  # one variable more at the end: not flat whatever the RSS
    assert not summarize_samples(samples, 0.2, tolerance_mib_per_1000=25)["flat"]
    with pytest.raises(ValueError, match="at least 3 samples"):
        summarize_samples(samples[:3], 0.9, 10)

    from goldyolo.bench.plots import soak_figure
    for sample in samples:
        sample["jittor_allocated_mib"] = 300.0
    fig = soak_figure({"samples": samples, "config": {"model": "gold_yolo-n", "img_size": 64, "batch_size": 4},
                       "summary": summarize_samples(samples, 0.2, 10)})
    memory, live = fig.axes
    assert [t.get_text() for t in memory.get_legend().get_texts()] == [
        "resident memory (MiB)", "held by Jittor's allocator (MiB)", "live Jittor variables (right axis)",
        "warm-up, left out of the slope"]
    assert live.get_ylim()[1] > 8 > live.get_ylim()[0]  # a near-constant count stays inside the axis
    assert fig.axes[0].get_title().startswith("Gold-YOLO-N at 64 px, batch 4: +20.0 MiB per 1,000")


def test_rss_reading_follows_an_allocation():
    import mmap
    before = current_rss_mib()
    # fresh pages from the kernel: malloc may hand back freed memory that is still resident (earlier tests)
    block = mmap.mmap(-1, 64 * 2**20)
    for offset in range(0, len(block), 4096):  # touch every page
        block[offset] = 1
    assert current_rss_mib() - before > 60
    block.close()


def test_soak_keeps_live_variables_constant(tmp_path):
    result = soak(soak_config(tmp_path), iterations=12, every=3, warmup_fraction=0.25,
                  tolerance_mib_per_1000=10.0)
    assert [s["iteration"] for s in result["samples"]] == [0, 3, 6, 9, 12]
    assert result["epochs_touched"] == 2  # 24 training images at batch 4: 6 steps per epoch
    live = result["summary"]["live_vars_after_warmup"]
    assert live[0] == live[1] > 0
    saved = json.loads((tmp_path / "soak.json").read_text())
    assert saved["summary"] == result["summary"]
    assert "git_commit" in saved["environment"]["versions"] and saved["environment"]["hardware"]["cpu_model"]
    assert not Path(saved["config"]["out"]).is_absolute()  # records keep no machine paths


def test_soak_detects_a_leak(tmp_path, monkeypatch):
    kept = []
    step = Trainer.train_step

    def leaky_step(self, images, targets, epoch, index):
        items = step(self, images, targets, epoch, index)
        kept.append(jt.array(images).sum())  # the kind of leak a loss history of Vars makes
        return items

    monkeypatch.setattr(Trainer, "train_step", leaky_step)
    summary = soak(soak_config(tmp_path), iterations=12, every=3, warmup_fraction=0.25,
                  tolerance_mib_per_1000=10.0)["summary"]
    low, high = summary["live_vars_after_warmup"]
    assert high - low >= 6 and not summary["flat"]


@pytest.mark.slow
def test_memory_is_flat_over_a_longer_run(tmp_path):
    # Left out: the first half, where new batch shapes still load kernels and grow the allocator's pool.
    # A leak of one 64 px input batch per step would climb about 190 MiB per 1,000 iterations.
    summary = soak(soak_config(tmp_path), iterations=400, every=10, warmup_fraction=0.5,
                   tolerance_mib_per_1000=25)["summary"]
    assert summary["flat"], summary
