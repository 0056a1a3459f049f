"""The machine and commit a record names (``goldyolo.utils.machine``)."""
from __future__ import annotations

import subprocess

import pytest

from goldyolo.utils import machine


@pytest.fixture
def repo(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)
    git("init", "-q")
    for path in ("goldyolo/a.py", "notebooks/n.ipynb", "report/index.html"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("0")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    monkeypatch.setattr(machine, "REPO", tmp_path)
    return tmp_path


def test_a_report_build_rewriting_notebooks_and_report_is_not_uncommitted_code(repo):
    clean = machine.versions()["git_commit"]
    assert len(clean) == 40 and not clean.endswith("-dirty")
    (repo / "notebooks" / "n.ipynb").write_text("executed")
    (repo / "report" / "index.html").write_text("rebuilt")
    (repo / "untracked.py").write_text("new")
    assert machine.versions()["git_commit"] == clean
    (repo / "goldyolo" / "a.py").write_text("changed")
    assert machine.versions()["git_commit"] == clean + "-dirty"
