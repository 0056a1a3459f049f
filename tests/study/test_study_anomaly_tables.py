"""Notebook 02's runs and tables (``goldyolo_study.anomaly_tables``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from goldyolo.data import CocoSource
from goldyolo_study import anomaly_tables
from goldyolo_study.anomaly_tables import SHUFFLED, TRUE

from conftest import SAMPLE


def curve(loss, **columns) -> pd.DataFrame:
    return pd.DataFrame(dict(step=range(len(loss)), loss=loss, **columns))


def test_paired_runs_train_on_true_and_shuffled_labels(capsys):
    from goldyolo_study import anomaly
    source = CocoSource(SAMPLE / "train.json", SAMPLE / "images")
    source.records = source.records[:4]
    images, targets = anomaly.fixed_batch(source, 4, 64)
    runs = anomaly_tables.paired_runs("fixed_target", images, targets, "gold_yolo-n", 2, seed=0)
    assert list(runs) == [TRUE, SHUFFLED]
    for df in runs.values():
        assert df.step.tolist() == [0, 1] and np.isfinite(df.loss).all()
    assert runs[TRUE].loss.iloc[1] < runs[TRUE].loss.iloc[0]
    # the fixed target never reads the labels: shuffling them changes nothing
    assert anomaly_tables.same_curve(runs)
    assert capsys.readouterr().out.startswith("fixed_target: two runs of 2 steps in ")


def test_same_curve_is_exact():
    runs = {TRUE: curve([1.0, 0.5]), SHUFFLED: curve([1.0, 0.5])}
    assert anomaly_tables.same_curve(runs) is True
    runs[SHUFFLED] = curve([1.0, 0.5 + 1e-12])
    assert anomaly_tables.same_curve(runs) is False


def test_real_loss_ends_average_the_last_tenth():
    real = {TRUE: curve([5.0] + [3.0] * 17 + [1.0, 2.0], num_pos=[10] + [20] * 18 + [30]),
            SHUFFLED: curve([5.0] * 18 + [4.0, 6.0], num_pos=[0] * 20)}
    ends = anomaly_tables.real_loss_ends(real, 20)
    assert ends == {"start": 5.0, "end": 1.5, "shuffled_end": 5.0, "tail": 2, "positives_start": 10,
                    "positives_end": 30}
    assert anomaly_tables.real_loss_ends(real, 5)["tail"] == 1


def test_original_comparison_sets_first_and_last_step_beside_the_report():
    run = curve([2.5, 1.0], reg=[0.0, 0.0], cls=[0.8, 0.69], obj=[0.9, 0.07], noobj=[0.7, 0.02])
    table = anomaly_tables.original_comparison(run)
    assert table.index.tolist() == ["total", "reg", "cls", "obj", "noobj"]
    assert table["printed, end"].tolist() == ["0.78", "0.000", "0.684", "0.070", "0.025"]  # as printed there
    assert table["printed, start"].tolist() == ["2.48", "", "", "", ""]
    assert list(table.columns[-2:]) == anomaly_tables.REBUILT
    assert table["rebuilt, first step"].tolist() == [2.5, 0.0, 0.8, 0.9, 0.7]  # first-step values, labelled so
    assert table["rebuilt, last step"].tolist() == [1.0, 0.0, 0.69, 0.07, 0.02]


def test_parity_cases_load_the_fixtures_present(tmp_path):
    assert anomaly_tables.parity_cases(tmp_path) == []
    np.savez(tmp_path / "parity_s.npz", loss=np.float32(4.5))
    cases = anomaly_tables.parity_cases(tmp_path)
    assert [(label, name) for label, name, _ in cases] == [("parity fixture S", "gold_yolo-s")]
    assert float(cases[0][2]["loss"]) == 4.5


def test_summary_table_states_the_evidence():
    fixed = {TRUE: curve([0.94, 0.0014]), SHUFFLED: curve([0.94, 0.0014])}
    synthetic = {TRUE: curve([2.5, 0.8], reg=[0.0, 0.0], cls=[0.8, 0.69], obj=[0.9, 0.07], noobj=[0.7, 0.025]),
                 SHUFFLED: curve([2.5, 0.7], reg=[0.0, 0.0], cls=[0.8, 0.6], obj=[0.9, 0.1], noobj=[0.7, 0.02])}
    real = {TRUE: curve([3.2] + [0.8] * 9, num_pos=[300] * 9 + [320]),
            SHUFFLED: curve([3.2] + [2.2] * 9, num_pos=[0] * 10)}
    gradients = pd.DataFrame({"fixed_target": [1.0, 0.0, 0.0]},
                             index=["scores pushed up", "scores pushed down", "scores whose gradient changes"])
    agreement = pd.DataFrame({"relative difference": [1.4e-7, 2.4e-7]})
    table = anomaly_tables.summary_table(fixed, synthetic, real, gradients, agreement, 10)
    evidence = table.evidence.tolist()
    assert evidence[0] == ("rebuilt: 0.94 → 0.0014; same curve with shuffled labels: yes; the first gradient pushes "
                           "100% of the class scores up and 0% of it depends on the labels")
    assert evidence[1] == ("rebuilt: 2.50 → 0.80; reg 0.000, cls 0.690, obj 0.070, noobj 0.025; "
                           "same curve with shuffled labels: no")
    assert evidence[2] == ("3.20 → 0.80 on true labels vs 2.20 shuffled; 320 positives per batch; "
                           "official agreement 2.4e-07 (relative)")
    no_fixtures = anomaly_tables.summary_table(fixed, synthetic, real, gradients, None, 10)
    assert no_fixtures.evidence.iloc[2].endswith("official agreement nan (relative)")


def test_results_for_the_summary(tmp_path):
    import json
    fixed = {TRUE: curve([0.94, 0.0014]), SHUFFLED: curve([0.94, 0.0014])}
    columns = dict(reg=[0.0, 0.0], cls=[0.8, 0.69], obj=[0.9, 0.07], noobj=[0.7, 0.025], mean_class_score=[0.01, 0.5])
    synthetic = {TRUE: curve([7.0, 0.75], **columns), SHUFFLED: curve([7.0, 0.75], **columns)}
    real = {TRUE: curve([3.2] + [0.8] * 9, num_pos=[300] * 10), SHUFFLED: curve([3.2] + [2.2] * 9, num_pos=[0] * 10)}
    found = anomaly_tables.results(fixed, synthetic, real, 10, tmp_path / "anomaly" / "anomaly.json")
    assert found == {"steps": 10, "fixed": {"start": 0.94, "end": 0.0014, "same_with_shuffled": True},
                     "synthetic": {"start": 7.0, "end": 0.75, "reg": 0.0, "cls": 0.69, "obj": 0.07, "noobj": 0.025,
                                   "mean_class_score": 0.5, "same_with_shuffled": True},
                     "real": {"start": 3.2, "end": 0.8, "shuffled_end": 2.2}}
    assert json.loads((tmp_path / "anomaly" / "anomaly.json").read_text()) == found


def test_synthetic_explanation_uses_the_run_numbers():
    run = curve([7.02, 0.75], reg=[0.0, 0.0], cls=[0.70, 0.672], obj=[4.61, 0.01], noobj=[1.0, 0.063],
                mean_class_score=[0.01, 0.498])
    spread = pd.DataFrame({"total (end)": [0.74, 0.75, 0.79]}, index=[0, 1, 2])
    text = "\n".join(anomaly_tables.synthetic_explanation(run, spread))
    assert "Start, 7.02 rebuilt against 2.48 printed" in text and "prior 0.010" in text and "at 4.61" in text
    assert "noobj at the end, 0.063 rebuilt against 0.025 printed" in text and "between 0.74 and 0.79" in text
    assert "0.5 nats" in text and "ends between them too" in text and "ends at 0.498" in text
    assert "both sit near 0.5" in text
    run.loc[1, "cls"], run.loc[1, "mean_class_score"] = 0.70, 0.153
    text = "\n".join(anomaly_tables.synthetic_explanation(run, spread))
    assert "ends outside them" in text and "ends at 0.153, not yet near 0.5" in text and "has 2 steps" in text
