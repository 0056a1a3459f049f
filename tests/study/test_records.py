"""The committed records (report/full) keep no machine's absolute paths: paths are relative to the repository
or to ../shared, PATH for the official checkout, OUTSIDE/ for a run folder outside the repository."""
from __future__ import annotations

import re
from pathlib import Path

REPORT = Path(__file__).resolve().parents[2] / "report" / "full"
ABSOLUTE = re.compile(r'"(/(?:[A-Za-z0-9_.-]+/)+[A-Za-z0-9_.-]*)"')


def test_committed_records_hold_no_absolute_paths():
    found = {}
    for path in sorted(REPORT.rglob("*.json")) + sorted(REPORT.rglob("*.jsonl")):
        hits = ABSOLUTE.findall(path.read_text())
        if hits:
            found[str(path.relative_to(REPORT))] = hits[:3]
    assert found == {}


def test_the_check_sees_an_absolute_path():
    assert ABSOLUTE.findall('{"out": "/work/runs/x", "data": "data/splits/test.json", "unit": "ms/image"}') == [
        "/work/runs/x"]
