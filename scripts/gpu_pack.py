"""Pack what scripts/gpu_check.sh needs on a bare GPU machine without network into .gpu/ (ignored by git, sent
with the working tree), within the 64 MiB that may travel with the job. The built report and the executed
notebooks, which the job never reads, are moved into .gpu_aside/ (ignored, not sent) for the job; put them back
afterwards with ``python scripts/gpu_pack.py --restore``.

    python scripts/gpu_pack.py [--budget-mib 62]

* ``.gpu/wheels``: Jittor 1.3.11 (source archive), numpy 1.26.4 (Jittor needs numpy < 2; the GPU image has
  numpy 2), pycocotools, astunparse and addict, for CPython 3.12 on x86-64 (``pip download``: needs PyPI).
* ``.gpu/reference``: the official reference's ``weights.py`` and ``keys_{n,s,m,l}.json``, which with the
  committed ``tests/fixtures/official_outputs.npz`` make the parity tests that run there.
* ``.gpu/official``: the .py and .yaml files of the official code (``--official``, default
  ``../shared/official/Gold-YOLO``: Detection/Gold-YOLO of huawei-noah/Efficient-Computing at 225ddd2), for the
  PyTorch side of the speed comparison there.
* ``.gpu/coco``: the 800/200 split (``data/splits``) with its 1,000 images re-encoded as JPEG at the highest
  quality that keeps the whole carried tree (tracked files + .gpu) under the budget. Sizes are unchanged, so
  the annotations hold; the quality used is written to ``.gpu/coco/README.txt`` and must be reported with
  any result made on these images.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ["numpy==1.26.4", "pycocotools==2.0.11", "astunparse==1.6.3", "addict==2.4.0"]
PLATFORM = ["--python-version", "3.12", "--implementation", "cp", "--only-binary=:all:",
            "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
            "--platform", "manylinux_2_28_x86_64"]


# tracked files the GPU job never reads (the built report, the executed notebooks): moved into .gpu_aside/ (not
# carried) while the job runs, so that the images fit; ``--restore`` puts them back
ASIDE = ["report/index.html", "report/index.pdf", "notebooks/*.ipynb"]
ASIDE_DIR = ROOT / ".gpu_aside"


def aside_files() -> list:
    return sorted(p for pattern in ASIDE for p in ROOT.glob(pattern) if p.is_file())


def move_aside() -> None:
    """Move the :data:`ASIDE` files into .gpu_aside/ (kept out of git and of the job)."""
    for path in aside_files():
        target = ASIDE_DIR / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
    print(f"moved aside into {ASIDE_DIR}: {', '.join(ASIDE)}; after the job: python scripts/gpu_pack.py --restore")


def restore() -> None:
    """Put the files moved aside back in place."""
    if not ASIDE_DIR.is_dir():
        sys.exit("nothing to restore: no .gpu_aside/")
    for path in sorted(p for p in ASIDE_DIR.rglob("*") if p.is_file()):
        target = ROOT / path.relative_to(ASIDE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(target))
    shutil.rmtree(ASIDE_DIR)
    print("restored the built report and the notebooks")


def tree_bytes(extra: Path) -> int:
    """Bytes of the tracked files that travel (those moved aside do not) plus ``extra`` (the untracked ones that
    travel besides)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    total = sum((ROOT / name).stat().st_size for name in tracked.decode().split("\0") if name and
                (ROOT / name).is_file())
    return total + sum(p.stat().st_size for p in extra.rglob("*") if p.is_file())


def download_wheels(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(out)]
    subprocess.run(pip + ["jittor==1.3.11.0"], check=True)
    subprocess.run(pip + PLATFORM + WHEELS, check=True)


def encode_split(split: Path, images: Path, out: Path, quality: int) -> int:
    """Re-encode the split's images into ``out/images``; returns their bytes."""
    total = 0
    (out / "images").mkdir(parents=True, exist_ok=True)
    for name in ("train.json", "test.json"):
        data = json.loads((split / name).read_text())
        for image in data["images"]:
            pixels = cv2.imread(str(images / image["file_name"]), cv2.IMREAD_COLOR)
            ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])
            (out / "images" / image["file_name"]).write_bytes(encoded.tobytes())
            total += len(encoded)
        shutil.copy2(split / name, out / name)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / ".gpu"))
    parser.add_argument("--split", default=str(ROOT / "data" / "splits"))
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "coco_subset" / "images"))
    parser.add_argument("--reference", default=str(ROOT.parent / "shared" / "reference"))
    parser.add_argument("--official", default=str(ROOT.parent / "shared" / "official" / "Gold-YOLO"))
    parser.add_argument("--budget-mib", type=float, default=62.0)
    parser.add_argument("--restore", action="store_true", help="after the job: put the built report and the "
                        "notebooks back from .gpu_aside/")
    args = parser.parse_args()
    if args.restore:
        restore()
        return
    out = Path(args.out)
    exclude = ROOT / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    known = exclude.read_text() if exclude.is_file() else ""
    for folder in ("/.gpu/", "/.gpu_aside/"):
        if folder not in known.split():
            known += folder + "\n"
    exclude.write_text(known)
    if ASIDE_DIR.exists():
        sys.exit(f"{ASIDE_DIR} exists: restore it first (python scripts/gpu_pack.py --restore)")
    move_aside()
    if out.exists():
        shutil.rmtree(out)
    download_wheels(out / "wheels")
    (out / "reference").mkdir(parents=True)
    for name in ["weights.py"] + [f"keys_{s}.json" for s in "nsml"]:
        shutil.copy2(Path(args.reference) / name, out / "reference" / name)
    official = Path(args.official)
    if not (official / "tools" / "train.py").is_file():
        sys.exit(f"--official {official}: not the official Detection/Gold-YOLO folder")
    for path in official.rglob("*"):
        if path.suffix in (".py", ".yaml") and path.is_file():
            target = out / "official" / path.relative_to(official)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    budget = args.budget_mib * 2**20
    for quality in (60, 50, 40, 35, 30, 25, 20):
        shutil.rmtree(out / "coco", ignore_errors=True)
        encode_split(Path(args.split), Path(args.images), out / "coco", quality)
        size = tree_bytes(out)
        print(f"JPEG quality {quality}: the carried tree is {size / 2**20:.1f} MiB", flush=True)
        if size <= budget:
            (out / "coco" / "README.txt").write_text(
                f"The 800/200 split of shared/coco_subset, images re-encoded as JPEG quality {quality} (OpenCV) to "
                f"fit the job's 64 MiB; sizes and annotations unchanged. Report this with any result.\n")
            print(f"packed {out}: {size / 2**20:.1f} MiB with the tracked files (budget {args.budget_mib} MiB)")
            return
    restore()
    sys.exit(f"the tracked files and wheels alone leave no room under {args.budget_mib} MiB")


if __name__ == "__main__":
    main()
