"""The official evaluator's modes: rect batch shapes, the --reproduce_640_eval profiles, the integer pad and
exact rescaling, and (with the official code) both evaluators on the same weights."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from goldyolo.data.coco import CocoSource
from goldyolo.data.dataset import DetectionDataset, rect_batches
from goldyolo.errors import InputError
from goldyolo.eval.modes import eval_mode
from goldyolo.eval.postprocess import scale_to_original

from conftest import OFFICIAL_CODE, SAMPLE


def test_rect_batch_shapes_follow_the_official_formula():
    # one batch each: landscape 0.75, landscape 427/640, mixed, portrait 4/3 (heights, widths)
    cases = [((480, 480), (640, 640), [512, 672]), ((427, 427), (640, 640), [448, 672]),
             ((480, 640), (640, 480), [672, 672]), ((640, 640), (480, 480), [672, 512])]
    for heights, widths, shape in cases:
        order, shapes = rect_batches(heights, widths, batch_size=2, img_size=640, stride=32, pad=0.5)
        assert shapes.tolist() == [shape]
    _, shapes = rect_batches((480,), (640,), batch_size=1, img_size=640, pad=0.0)
    assert shapes.tolist() == [[480, 640]]  # --force-no-pad: the long side is img_size
    order, shapes = rect_batches((100, 300, 200, 400), (400, 300, 400, 200), batch_size=2, img_size=320)
    assert order.tolist() == [0, 2, 1, 3]  # h / w: 0.25, 0.5, 1, 2
    assert shapes.tolist() == [[192, 352], [352, 352]]


def test_profiles_are_chosen_by_the_weights_file_name():
    assert eval_mode("weights/Gold_n_dist.pt", reproduce_640_eval=True).load_size == 636
    assert eval_mode("Gold_s_pre_dist.pkl", reproduce_640_eval=True).load_size == 634
    mode = eval_mode("runs/best.pkl", reproduce_640_eval=True)
    assert (mode.profile, mode.load_size, mode.return_int, mode.exact_scale, mode.rect) == ("default", 638, True,
                                                                                              True, False)
    assert eval_mode("best.pkl", reproduce_640_eval=True, eval_profile="Gold_m_pre_dist").load_size == 636
    rect = eval_mode("best.pkl", rect=True)
    assert (rect.rect, rect.pad, rect.load_size) == (True, 0.5, 640)
    assert eval_mode("best.pkl", rect=True, force_no_pad=True, test_load_size=320).dataset_options()["pad"] == 0.0
    assert eval_mode("best.pkl").dataset_options() == {"rect": False, "pad": 0.5, "load_size": 0,
                                                       "return_int": False, "exact_scale": False}
    for kwargs, message in (({"rect": True, "reproduce_640_eval": True}, "exclude each other"),
                            ({"eval_profile": "Gold_n_dist"}, "give that option too"),
                            ({"reproduce_640_eval": True, "eval_profile": "gold"}, "is not one of")):
        with pytest.raises(InputError, match=message):
            eval_mode("best.pkl", **kwargs)


def test_reproduce_640_input_of_a_640x480_image(tmp_path):
    """The worked example: loaded at 634 -> 634x475, pasted at (3, 82) in 640x640, each axis' own gain."""
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "1.png"), image)
    coco = {"images": [{"id": 1, "file_name": "1.png", "width": 640, "height": 480}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 50, 200, 100], "area": 2e4,
                             "iscrowd": 0}], "categories": [{"id": 1, "name": "thing"}]}
    (tmp_path / "a.json").write_text(json.dumps(coco))
    source = CocoSource(tmp_path / "a.json", tmp_path)
    mode = eval_mode("Gold_s_pre_dist.pkl", reproduce_640_eval=True)
    dataset = DetectionDataset(source, 640, batch_size=1, **mode.dataset_options())
    chw, targets, meta = dataset[0]
    assert chw.shape == (3, 640, 640) and meta["pad"] == (3, 82) and meta["exact"]
    assert meta["ratio"] == pytest.approx((475 / 480, 634 / 640))
    hwc = chw[::-1].transpose(1, 2, 0)
    assert (hwc[:82] == 114).all() and (hwc[82 + 475:] == 114).all() and (hwc[:, :3] == 114).all()
    assert not (hwc[82:82 + 475, 3:3 + 634] == 114).all()
    box = np.array([[100, 50, 300, 150]], np.float64)
    on_input = np.array([[3 + 100 * 634 / 640, 82 + 50 * 475 / 480, 3 + 300 * 634 / 640, 82 + 150 * 475 / 480]])
    back = scale_to_original(on_input, meta["ratio"], meta["pad"], meta["shape"], exact=True)
    np.testing.assert_allclose(back, box, atol=1e-9)
    # the official default divides x by the y gain
    inexact = scale_to_original(on_input, meta["ratio"], meta["pad"], meta["shape"])
    np.testing.assert_allclose(inexact[0, 0], (on_input[0, 0] - 3) / (475 / 480))


def test_rect_dataset_batches_have_one_shape_each():
    source = CocoSource(SAMPLE / "test.json", SAMPLE / "images")
    mode = eval_mode("w.pkl", rect=True, test_load_size=320)
    dataset = DetectionDataset(source, 320, batch_size=3, **mode.dataset_options())
    ratios = [r.height / r.width for r in dataset.records]
    assert ratios == sorted(ratios)
    seen = 0
    for images, _, metas in dataset:
        shape = dataset.input_shape(seen)
        assert images.shape[2:] == shape and max(shape) <= 352 and all(s % 32 == 0 for s in shape)
        for k, meta in enumerate(metas):
            assert dataset.input_shape(seen + k) == shape and meta["image_id"] == dataset.records[seen + k].image_id
        seen += len(metas)
    assert seen == len(source.records)


@pytest.mark.needs_official_code
def test_both_evaluators_agree_in_every_mode(tmp_path, reference_weights):
    """Random reference weights give 300 detections per image: every one must have its official partner."""
    from goldyolo.compare.eval_parity import EvalParityConfig, eval_parity

    from conftest import reference_state
    np.savez(tmp_path / "n.npz", **reference_state(reference_weights, "n"))
    eval_parity(EvalParityConfig(torch_reference=str(OFFICIAL_CODE),
                                 weights=str(tmp_path / "n.npz"), data=str(SAMPLE / "test.json"),
                                 images=str(SAMPLE / "images"), img_size=320, batch_size=4, out=str(tmp_path)))
    result = json.loads((tmp_path / "eval_parity.json").read_text())
    for name, mode in result["modes"].items():
        assert mode["input_shapes"]["equal"] == mode["input_shapes"]["images"] == 8, name
        found = mode["detections"]
        assert found["matched"] == found["goldyolo"] == found["official"] == 2400, name
        assert found["largest_box_difference_px"] <= 0.002 and mode["within_tolerance"], name
    assert result["modes"]["rect"]["input_shapes"]["distinct"] == [[256, 352], [352, 352]]


def person_only(tmp_path):
    """The sample's test images with person alone (one class, so not COCO's 80), one box made a crowd region."""
    from goldyolo.data.classes import select_classes
    coco = select_classes(json.loads((SAMPLE / "test.json").read_text()), ["person"], keep_empty=True)
    coco["annotations"][0]["iscrowd"] = 1
    path = tmp_path / "person.json"
    path.write_text(json.dumps(coco))
    return path


@pytest.mark.needs_official_code
def test_both_evaluators_agree_on_a_dataset_that_is_not_coco80(tmp_path, reference_weights):
    """Without ``is_coco`` the official evaluator keys its detections by file stem and class index; it must
    still score against the same annotations (crowd region included) and every detection find its partner."""
    from goldyolo.compare.eval_parity import EvalParityConfig, eval_parity

    from conftest import reference_state
    state = reference_state(reference_weights, "n")
    state.update({k: v[:1] for k, v in state.items() if k.startswith("detect.cls_preds.")})  # class 0: person
    np.savez(tmp_path / "n1.npz", **state)
    eval_parity(EvalParityConfig(torch_reference=str(OFFICIAL_CODE), weights=str(tmp_path / "n1.npz"),
                                 data=str(person_only(tmp_path)), images=str(SAMPLE / "images"), img_size=320,
                                 batch_size=4, modes=("square",), out=str(tmp_path / "out")))
    mode = json.loads((tmp_path / "out" / "eval_parity.json").read_text())["modes"]["square"]
    found = mode["detections"]
    assert found["matched"] == found["goldyolo"] == found["official"] > 100
    assert mode["official"]["AP"] == pytest.approx(mode["goldyolo"]["AP"], abs=1e-6)
    assert mode["official"]["AP50"] == pytest.approx(mode["goldyolo"]["AP50"], abs=1e-6)


@pytest.mark.needs_official_code
def test_both_evaluators_agree_as_the_official_trainer_evaluates(tmp_path, reference_weights):
    """Mode ``trainer``: the official trainer's own loader (read at the training size) and training-form model on
    one side, goldyolo's rect batches read at the training size on the other: the same inputs and detections."""
    from goldyolo.compare.eval_parity import EvalParityConfig, eval_parity

    from conftest import reference_state
    np.savez(tmp_path / "n.npz", **reference_state(reference_weights, "n"))
    eval_parity(EvalParityConfig(torch_reference=str(OFFICIAL_CODE), weights=str(tmp_path / "n.npz"),
                                 data=str(SAMPLE / "test.json"), images=str(SAMPLE / "images"), img_size=320,
                                 batch_size=4, modes=("trainer",), out=str(tmp_path)))
    mode = json.loads((tmp_path / "eval_parity.json").read_text())["modes"]["trainer"]
    assert mode["input_shapes"]["equal"] == mode["input_shapes"]["images"] == 8
    found = mode["detections"]
    assert found["matched"] == found["goldyolo"] == found["official"] == 2400
    assert found["largest_box_difference_px"] <= 0.002 and mode["within_tolerance"]
    assert mode["goldyolo_mode"]["load_size"] == 320 and mode["goldyolo_mode"]["rect"]
