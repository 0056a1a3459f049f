"""``data classes``: a COCO json restricted to some categories."""
from __future__ import annotations

import json

import pytest

from goldyolo.data.classes import class_counts, classes_command, select_classes
from goldyolo.errors import InputError

from conftest import SAMPLE


def coco():
    return {"info": {"year": 2017}, "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"},
                                                   {"id": 3, "name": "car"}],
            "images": [{"id": i, "file_name": f"{i}.jpg"} for i in (10, 11, 12, 13)],
            "annotations": [{"id": 1, "image_id": 10, "category_id": 1}, {"id": 2, "image_id": 10, "category_id": 18},
                            {"id": 3, "image_id": 11, "category_id": 18}, {"id": 4, "image_id": 12, "category_id": 3},
                            {"id": 5, "image_id": 13, "category_id": 1, "iscrowd": 1}]}


def test_only_the_named_categories_their_boxes_and_images_stay():
    dogs_first = select_classes(coco(), ["dog", "person"])
    assert [c["id"] for c in dogs_first["categories"]] == [18, 1]  # COCO ids kept, order as named
    assert [a["id"] for a in dogs_first["annotations"]] == [1, 2, 3, 5]
    assert [im["id"] for im in dogs_first["images"]] == [10, 11, 13]  # 13: a crowd region of a chosen class
    assert dogs_first["info"] == {"year": 2017}
    assert [im["id"] for im in select_classes(coco(), ["car"], keep_empty=True)["images"]] == [10, 11, 12, 13]
    assert class_counts(dogs_first) == {"dog": {"images": 2, "boxes": 2, "crowd": 0},
                                        "person": {"images": 2, "boxes": 1, "crowd": 1}}


def test_a_wrong_name_is_refused_naming_the_file_and_what_it_has(tmp_path):
    source = tmp_path / "train.json"
    source.write_text(json.dumps(coco()))
    with pytest.raises(InputError, match=r"train.json: no category named 'persn'; the file has: car, dog, person"):
        classes_command(str(source), ["persn"], str(tmp_path / "out.json"))
    with pytest.raises(InputError, match="named twice"):
        classes_command(str(source), ["dog", "dog"], str(tmp_path / "out.json"))
    with pytest.raises(InputError, match="would overwrite the input"):
        classes_command(str(source), ["dog"], str(source))
    assert not (tmp_path / "out.json").exists()


def test_the_command_writes_a_split_that_trains_as_one_class(tmp_path):
    from goldyolo.data import CocoSource
    line = classes_command(str(SAMPLE / "train.json"), ["person"], str(tmp_path / "person.json"))
    subset = json.loads((tmp_path / "person.json").read_text())
    counts = class_counts(subset)["person"]
    assert counts["images"] > 0
    assert line.splitlines()[0] == (f"person: {counts['images']} images, {counts['boxes']} boxes "
                                    f"(+{counts['crowd']} crowd)")
    source = CocoSource(tmp_path / "person.json", SAMPLE / "images")
    assert source.num_classes == 1 and source.names == ["person"] and len(source.records) == counts["images"]


def test_classes_of_a_whole_split_into_a_folder(tmp_path):
    split = [str(SAMPLE / "train.json"), str(SAMPLE / "test.json")]
    text = classes_command(split, ["person"], str(tmp_path / "person"), keep_empty=True)
    for name in ("train", "test"):
        original = json.loads((SAMPLE / f"{name}.json").read_text())
        written = json.loads((tmp_path / "person" / f"{name}.json").read_text())
        assert len(written["images"]) == len(original["images"])  # kept empty
        assert [c["name"] for c in written["categories"]] == ["person"]
        assert f"written to {tmp_path / 'person' / f'{name}.json'}" in text
    with pytest.raises(InputError, match="output folder"):
        classes_command([str(SAMPLE / "train.json"), str(SAMPLE / "test.json")], ["person"], str(tmp_path / "x.json"))
    with pytest.raises(InputError, match="share a name"):
        classes_command([str(SAMPLE / "train.json"), str(SAMPLE / "train.json")], ["person"], str(tmp_path / "y"))
