"""``data sample`` and ``data coco``: the sample's choice, the committed sample, the COCO download (no network)."""
from __future__ import annotations

import hashlib
import io
import json
import urllib.error
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from goldyolo.cli import main
from goldyolo.data import CocoSource, download
from goldyolo.data.coco import SKIPPED_IMAGE
from goldyolo.data.sample import make_sample

from conftest import SAMPLE

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 90, "name": "toothbrush"}]


def coco_json(path: Path, boxes: dict) -> Path:
    """A COCO file with one image per key of ``boxes`` ({id: [iscrowd flags]})."""
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "width": 32, "height": 32} for i in boxes]
    annotations = [{"id": i * 10 + k, "image_id": i, "category_id": 1, "bbox": [2, 2, 10, 10], "area": 100,
                    "iscrowd": crowd} for i, flags in boxes.items() for k, crowd in enumerate(flags)]
    path.write_text(json.dumps({"info": {"version": "t"}, "licenses": [], "images": images,
                                "annotations": annotations, "categories": CATEGORIES}))
    return path


@pytest.fixture
def splits(tmp_path):
    """Train ids 1-6 and test ids 5, 7-9: 1 has only a crowd box, 2 none, 3 a large file, 8 no file."""
    images = tmp_path / "images"
    images.mkdir()
    for i in (1, 2, 4, 5, 6, 7, 9):
        Image.new("RGB", (32, 32), (120, 60, 30)).save(images / f"{i:012d}.jpg")
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(images / f"{3:012d}.jpg", quality=100)
    train = coco_json(tmp_path / "train.json", {1: [1], 2: [], 3: [0], 4: [0, 1], 5: [0], 6: [0]})
    test = coco_json(tmp_path / "test.json", {5: [0], 7: [0, 0], 8: [0], 9: [0]})
    return train, test, images


def test_sample_takes_first_boxed_small_images(splits, tmp_path):
    train, test, images = splits
    out = tmp_path / "sample"
    ids = make_sample(train, test, images, out, n_train=2, n_test=2, max_bytes=5000)
    assert ids == {"train": [4, 5], "test": [7, 9]}
    for name, chosen in ids.items():
        coco = json.loads((out / f"{name}.json").read_text())
        assert [im["id"] for im in coco["images"]] == chosen
        assert coco["categories"] == CATEGORIES and coco["info"] == {"version": "t"}
        assert sorted({a["image_id"] for a in coco["annotations"]}) == chosen
        for image in coco["images"]:
            assert (out / "images" / image["file_name"]).read_bytes() == (images / image["file_name"]).read_bytes()
    assert len(json.loads((out / "train.json").read_text())["annotations"]) == 3  # image 4's crowd box kept
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:012d}.jpg" for i in (4, 5, 7, 9)]


def test_sample_too_few_images_is_an_error(splits, tmp_path):
    train, test, images = splits
    with pytest.raises(ValueError, match="only 3 images have a non-crowd box"):
        make_sample(train, test, images, tmp_path / "sample", n_train=4, max_bytes=5000)


def test_sample_command(splits, tmp_path, capsys):
    train, test, images = splits
    assert main(["data", "sample", "--train", str(train), "--test", str(test), "--images", str(images),
                 "--out", str(tmp_path / "s"), "--n-train", "1", "--n-test", "1", "--max-kb", "5"]) == 0
    out = capsys.readouterr().out
    assert "train: 1 images, ids [4]" in out and "test: 1 images, ids [5]" in out


def test_committed_sample_is_valid():
    sources = {name: CocoSource(SAMPLE / f"{name}.json", SAMPLE / "images") for name in ("train", "test")}
    for name, count in (("train", 24), ("test", 8)):
        source = sources[name]
        assert not set(source.report.counts) & set(SKIPPED_IMAGE)
        assert len(source.records) == count and source.num_classes == 80
        assert all(r.path.is_file() and len(r.labels) for r in source.records)
    assert sources["train"].names == sources["test"].names
    assert not {r.image_id for r in sources["train"].records} & {r.image_id for r in sources["test"].records}
    assert sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file()) < 6e6


def zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Response(io.BytesIO):
    """What urlopen returns: status, headers and read()."""

    def __init__(self, data: bytes, status: int = 200):
        super().__init__(data)
        self.status, self.headers = status, {"Content-Length": str(len(data))}


@pytest.fixture
def server(monkeypatch):
    """Two small zips in place of the official ones (their md5 patched in), served by a fake urlopen."""
    files = {"annotations_trainval2017.zip": zip_bytes({"annotations/instances_val2017.json": b"{}",
                                                        "annotations/instances_train2017.json": b"{}"}),
             "val2017.zip": zip_bytes({"val2017/": b"", "val2017/000000000139.jpg": b"jpeg bytes"})}
    archives = tuple(a._replace(md5=hashlib.md5(files[a.filename]).hexdigest()) for a in download.ARCHIVES)
    monkeypatch.setattr(download, "ARCHIVES", archives)
    state = SimpleNamespace(files=files, requests=[], honour_range=True)

    def urlopen(request, timeout=None):
        data, byte_range = files[request.full_url.rsplit("/", 1)[1]], request.get_header("Range")
        state.requests.append((request.full_url, byte_range))
        if byte_range and state.honour_range:
            return Response(data[int(byte_range[len("bytes="):-1]):], 206)
        return Response(data)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    return state


def test_coco_download_extracts_and_then_skips(server, tmp_path, capsys):
    assert main(["data", "coco", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "val2017" / "000000000139.jpg").read_bytes() == b"jpeg bytes"
    assert (tmp_path / "annotations" / "instances_val2017.json").read_text() == "{}"
    assert not (tmp_path / "annotations" / "instances_train2017.json").exists()
    assert not (tmp_path / ".extracting").exists() and not list(tmp_path.glob("*.part"))
    assert [url for url, _ in server.requests] == [a.url for a in download.ARCHIVES]
    assert main(["data", "coco", "--root", str(tmp_path)]) == 0
    assert len(server.requests) == 2
    assert capsys.readouterr().out.count("present, skipped") == 2


@pytest.mark.parametrize("honour_range", [True, False])
def test_coco_download_continues_a_partial_file(server, tmp_path, honour_range):
    server.honour_range = honour_range
    data = server.files["val2017.zip"]
    (tmp_path / "val2017.zip.part").write_bytes(data[:40] if honour_range else b"x" * 40)
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{}")
    assert main(["data", "coco", "--root", str(tmp_path)]) == 0
    assert server.requests == [(download.ARCHIVES[1].url, "bytes=40-")]
    assert (tmp_path / "val2017.zip").read_bytes() == data
    assert (tmp_path / "val2017" / "000000000139.jpg").exists()


def test_coco_download_offline_exits_2_with_help(monkeypatch, tmp_path, capsys):
    def refuse(request, timeout=None):
        raise urllib.error.URLError(OSError("Network is unreachable"))
    monkeypatch.setattr(download.urllib.request, "urlopen", refuse)
    assert main(["data", "coco", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "could not reach images.cocodataset.org (Network is unreachable)" in err
    assert "../shared/coco_subset" in err and "data/sample" in err
    assert f"{tmp_path}/annotations/instances_val2017.json" in err and "val2017.zip" in err


def test_coco_download_wrong_checksum_keeps_the_file(server, monkeypatch, tmp_path, capsys):
    archives = (download.ARCHIVES[0]._replace(md5="0" * 32),)
    monkeypatch.setattr(download, "ARCHIVES", archives)
    assert main(["data", "coco", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    actual = hashlib.md5(server.files["annotations_trainval2017.zip"]).hexdigest()
    assert "annotations_trainval2017.zip" in err and "0" * 32 in err and actual in err
    assert (tmp_path / "annotations_trainval2017.zip.bad").exists()
    assert not (tmp_path / "annotations_trainval2017.zip").exists()
    assert not (tmp_path / "annotations").exists()
