"""Where each committed result comes from (``goldyolo_study.provenance``)."""
from __future__ import annotations

import json
from pathlib import Path

from goldyolo_study import provenance

REPO = Path(__file__).resolve().parents[2]


def env(commit: str, date: str = "2026-12-06T10:00:00+00:00", cpu: str = "Some CPU") -> dict:
    return {"date": date, "hardware": {"cpu_model": cpu}, "versions": {"git_commit": commit}}


def test_invocations_give_every_commit_of_a_resumed_run(tmp_path):
    run = tmp_path / "compare_train"
    run.mkdir()
    lines = [env("a" * 40 + "-dirty"), env("b" * 40, "2026-12-07T01:00:00+00:00"), env("b" * 40)]
    (run / "invocations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    (run / "compare.json").write_text(json.dumps({"environment": env("c" * 40)}))  # the invocations win
    found = provenance.origin(run)
    assert found.commits == ["aaaaaaa+", "bbbbbbb"] and found.dates == ["2026-12-06", "2026-12-07"]
    assert found.machines == ["Some CPU"] and found.source == "record"
    text = provenance.origin_text(run)
    assert text.startswith("commits aaaaaaa+, bbbbbbb (2026-12-06, 2026-12-07, Some CPU)")
    assert "uncommitted changes" in text


def test_environments_in_json_records_then_readme_then_build(tmp_path):
    bench = tmp_path / "bench"
    (bench / "sub").mkdir(parents=True)
    (bench / "sub" / "a.json").write_text(json.dumps({"versions": {"git_commit": "d" * 40}, "date": "2026-11-26"}))
    (bench / "b.json").write_text(json.dumps([1, 2]))  # not a record with an environment
    assert provenance.origin(bench).commits == ["ddddddd"]
    train = tmp_path / "train"
    train.mkdir()
    (train / "config.json").write_text("{}")
    (train / "README.md").write_text("Run on 2026-12-06 at commit 06e0e36 (started 09:26 UTC), on a 2-core Intel\n"
                                     "Xeon VM; resumed at\ncommit 21a13a7.")
    assert provenance.origin_text(train) == ("commits 06e0e36, 21a13a7 (2026-12-06, Intel(R) Xeon(R) Processor; "
                                             "from its README)")
    (tmp_path / "eval_test").mkdir()
    assert provenance.origin(tmp_path / "eval_test").source == provenance.BUILD
    (tmp_path / "soak").mkdir()
    assert provenance.origin_text(tmp_path / "soak") == "its commit was not recorded"
    table = provenance.origins_table(tmp_path)
    assert list(table.result) == [provenance.RECORDS[k] for k in ("train", "eval_test", "bench", "soak")]
    assert list(table["known from"]) == ["its README", "this build", "its records", "not recorded"]
    assert table.dates[0] == "2026\u201112\u201106"  # kept on one line
    quick = tmp_path / "quick"
    (quick / "train").mkdir(parents=True)
    (quick / "train" / "invocations.jsonl").write_text(json.dumps(env("e" * 40)) + "\n")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "onnx_640.json").write_text(json.dumps({"environment": env("f" * 40)}))
    table = provenance.origins_table(tmp_path, quick)  # the profile's own runs, the committed others
    assert list(table.commits) == ["eeeeeee", "fffffff"]


def test_every_committed_record_folder_is_described():
    folders = {p.name for p in (REPO / "report" / "full").iterdir() if p.is_dir()}
    assert folders <= set(provenance.RECORDS), folders - set(provenance.RECORDS)
