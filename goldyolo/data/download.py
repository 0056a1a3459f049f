"""``data coco``: download and extract COCO val2017 images and annotations, resumable and verified.

Each zip is downloaded into the root folder with a progress bar; an interrupted download leaves a
``.part`` file that the next run continues with an HTTP Range request (or restarts when the server
ignores it). A finished zip must have the published md5, or it is renamed ``*.bad`` and the run
stops; then the needed members are extracted. Whatever is already extracted is skipped.
"""
from __future__ import annotations

import hashlib
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import NamedTuple

from tqdm import tqdm

from ..errors import GoldYoloError, InputError

HOST = "images.cocodataset.org"
CHUNK = 1 << 20
TIMEOUT_S = 30


class Archive(NamedTuple):
    """One official zip: its URL, its md5 and the member (file or folder) taken from it."""
    url: str
    md5: str
    member: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]


# md5 digests of the official zips as published with COCO download code, e.g. PaddleDetection's COCO
# reader test (COCO_VAL_MD5SUM, COCO_ANNO_MD5SUM) and mlverse/torchvision's coco_detection_dataset.
ARCHIVES = (
    Archive(f"http://{HOST}/annotations/annotations_trainval2017.zip", "f4bbac642086de4f52a3fdda2de5fa2c",
            "annotations/instances_val2017.json"),
    Archive(f"http://{HOST}/zips/val2017.zip", "442b8da7639aecaf257c1dceb8ba8c80", "val2017"),
)


class OfflineError(GoldYoloError, OSError):
    """images.cocodataset.org could not be reached."""


class ChecksumError(InputError):
    """A downloaded zip does not have the published md5."""


def offline_message(root: Path, reason: object) -> str:
    """What to do without a connection: the local data and where a manual download goes."""
    return (f"could not reach {HOST} ({reason}). Without it, use the study's 1,000-image COCO val2017 subset "
            f"in ../shared/coco_subset (split in data/splits) or the 32-image sample in data/sample "
            f"(train.json, test.json, images/). To use a copy downloaded elsewhere, put val2017.zip and "
            f"annotations_trainval2017.zip in {root} (they are checked and extracted), or their contents as "
            f"{root}/val2017/*.jpg and {root}/annotations/instances_val2017.json, and run this command again; "
            f"a partial download ({root}/*.zip.part) is continued where it stopped.")


def download(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` through ``dest.part``, continuing a partial ``.part`` file."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if response.status != 206:
                offset = 0
            size = response.headers.get("Content-Length")
            total = offset + int(size) if size else None
            with open(part, "ab" if offset else "wb") as out, \
                    tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as err:
        if err.code != 416 or not offset:  # 416: the .part file is already complete
            raise
    except (urllib.error.URLError, socket.timeout, ConnectionError) as err:
        raise OfflineError(offline_message(dest.parent, getattr(err, "reason", err))) from None
    part.replace(dest)


def md5sum(path: Path) -> str:
    """Hex md5 digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> None:
    """Raise ChecksumError, keeping the file as ``*.bad``, unless ``path`` has md5 ``expected``."""
    actual = md5sum(path)
    if actual != expected:
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        raise ChecksumError(f"{path.name}: md5 {actual} does not match the published md5 {expected}; "
                            f"the file is kept as {bad} (delete it and run again to download it again)")


def extract(zip_path: Path, member: str, root: Path) -> Path:
    """Extract ``member`` (a file or a folder) of ``zip_path`` to ``root/member``, moved into place when complete."""
    staging = root / ".extracting"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if n == member or n.startswith(member + "/")]
        if not names:
            raise InputError(f"{zip_path}: no {member} in the archive")
        for name in tqdm(names, desc=f"extract {member}", unit="file"):
            archive.extract(name, staging)
    target = root / member
    target.parent.mkdir(parents=True, exist_ok=True)
    (staging / member).replace(target)
    shutil.rmtree(staging)
    return target


def fetch_archive(archive: Archive, root: Path) -> str:
    """Download, verify and extract one archive unless its member is present; returns a status line."""
    target = root / archive.member
    if target.exists():
        return f"{target}: present, skipped"
    root.mkdir(parents=True, exist_ok=True)
    zip_path = root / archive.filename
    if not zip_path.exists():
        download(archive.url, zip_path)
    verify(zip_path, archive.md5)
    extract(zip_path, archive.member, root)
    return f"{target}: extracted from {zip_path} (md5 verified)"


def fetch_coco(root: str) -> str:
    """``data coco``: every archive of :data:`ARCHIVES` into ``root``; a status line each."""
    return "\n".join(fetch_archive(archive, Path(root)) for archive in ARCHIVES)
