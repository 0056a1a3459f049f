#!/usr/bin/env bash
# Set up a fresh Debian/Ubuntu machine for goldyolo: the system packages the tests use, then the package
# with its development extras, editable, into the Python that `python` runs (pyenv, a venv, conda).
# Runs as root, or as a user with sudo (asked for only when a package is missing). .ci/run uses it too.
set -euo pipefail
cd "$(dirname "$0")/.."

# libdnnl-dev: oneDNN for Jittor's CPU convolutions (goldyolo/runtime.py links it where Jittor looks);
# openmpi-bin, libopenmpi-dev: mpirun, and mpicc for Jittor's MPI ops (the several-process tests);
# chromium, poppler-utils: the report's PDF and the pdftotext check of it (tests/study/test_notebooks.py);
# fonts-wqy-microhei: the Chinese quotations of the earlier report in the PDF
PACKAGES=(libdnnl-dev openmpi-bin libopenmpi-dev chromium poppler-utils fonts-wqy-microhei)

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for package in "${PACKAGES[@]}"; do
    installed "$package" || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        as_root=""
    elif command -v sudo >/dev/null 2>&1; then
        as_root="sudo"
    else
        echo "setup: not root and no sudo; as root run: apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    # `env` sets the variable for apt-get itself: sudo's env_reset would drop one set before it
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

python -m pip install -e ".[dev]" -e ./study   # the library, and the study behind the notebooks
