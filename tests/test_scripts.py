"""The shell scripts parse, and the GPU pack script knows its inputs (they run on other machines)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("script", ["scripts/setup.sh", "scripts/gpu_check.sh", ".ci/run"])
def test_shell_scripts_parse(script):
    done = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_gpu_pack_has_its_options():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_pack.py"), "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "--budget-mib" in done.stdout
