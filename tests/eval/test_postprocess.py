"""NMS against a brute-force reference, box conversions and the mapping back to the image."""
from __future__ import annotations

import numpy as np

from goldyolo.eval.postprocess import nms, non_max_suppression, scale_to_original, xywh2xyxy


def brute_force_nms(boxes, scores, thr):
    keep, alive = [], np.ones(len(boxes), bool)
    for i in sorted(range(len(boxes)), key=lambda k: (-scores[k], k)):
        if not alive[i]:
            continue
        keep.append(i)
        for j in range(len(boxes)):
            if alive[j] and j != i:
                xx1, yy1 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
                xx2, yy2 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
                inter = max(0, xx2 - xx1) * max(0, yy2 - yy1)
                area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
                if inter / (area(boxes[i]) + area(boxes[j]) - inter) > thr:
                    alive[j] = False
        alive[i] = False
    return keep


def test_nms_equals_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 100, (60, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 40, (60, 2))], 1)
        scores = rng.uniform(0, 1, 60)
        assert list(nms(boxes, scores, 0.45)) == brute_force_nms(boxes, scores, 0.45)


def test_non_max_suppression_layout_and_thresholds():
    pred = np.zeros((1, 4, 7), np.float32)  # 2 classes
    pred[0, :, :4] = [[50, 50, 20, 20], [51, 50, 20, 20], [150, 150, 10, 10], [10, 10, 4, 4]]
    pred[0, :, 4] = 1.0
    pred[0, :, 5:] = [[0.9, 0.1], [0.8, 0.7], [0.05, 0.6], [0.01, 0.02]]
    out = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45, multi_label=True)[0]
    # Box 1's class-0 score is suppressed by box 0, its class-1 score survives (per-class NMS);
    # box 3 is below the threshold.
    assert sorted((round(float(c), 3), float(k)) for c, k in out[:, 4:]) == [(0.6, 1.0), (0.7, 1.0), (0.9, 0.0)]
    np.testing.assert_allclose(out[np.argmax(out[:, 4])][:4], [40, 40, 60, 60])
    single = non_max_suppression(pred, conf_thres=0.25, iou_thres=0.45, multi_label=False)[0]
    assert len(single) == 2  # box 1 keeps only class 0 and is suppressed


def test_conversions():
    np.testing.assert_allclose(xywh2xyxy(np.array([[10.0, 20, 4, 6]])), [[8, 17, 12, 23]])
    boxes = scale_to_original(np.array([[41.0, 40, 141, 140]]), (0.5, 0.5), (41, 40), (100, 150))
    np.testing.assert_allclose(boxes, [[0, 0, 150, 100]])


def test_nms_keeps_zero_area_duplicates_like_torchvision():
    from goldyolo.eval.postprocess import nms
    boxes = np.array([[5, 5, 5, 9], [5, 5, 5, 9], [0, 0, 10, 10]], dtype=np.float32)  # two zero-width boxes
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    with np.errstate(all="raise"):
        keep = nms(boxes, scores, 0.5)
    assert keep.tolist() == [0, 1, 2]  # IoU 0/0 is NaN, which torchvision never counts as an overlap


def test_nms_max_keep_is_the_head_of_the_full_result():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 400, (500, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (500, 2))], 1)
    scores = rng.uniform(0, 1, 500)
    full = nms(boxes, scores, 0.45)
    assert len(full) > 100
    np.testing.assert_array_equal(nms(boxes, scores, 0.45, max_keep=100), full[:100])
    np.testing.assert_array_equal(nms(boxes, scores, 0.45, max_keep=10 ** 6), full)


def test_class_by_class_nms_of_offset_boxes_equals_the_global_one():
    from goldyolo.eval.postprocess import MAX_WH, offset_nms
    rng = np.random.default_rng(2)
    xy = rng.uniform(-20, 640, (3000, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (3000, 2))], 1)
    classes = rng.integers(0, 80, 3000)
    scores = np.round(rng.uniform(0, 1, 3000), 2)  # many exact ties
    shifted = boxes + classes[:, None] * MAX_WH
    full = nms(shifted, scores, 0.65)
    np.testing.assert_array_equal(offset_nms(shifted, scores, 0.65), full)
    np.testing.assert_array_equal(offset_nms(shifted, scores, 0.65, max_keep=300), full[:300])
    shifted[0, 2] = 1e5  # a box too large to tell its class: the global NMS
    np.testing.assert_array_equal(offset_nms(shifted, scores, 0.65), nms(shifted, scores, 0.65))


def test_predictions_as_json_records_and_yolo_lines():
    from goldyolo.eval.predict import detection_records, yolo_lines
    detections = np.array([[10, 20, 110, 70, 0.875, 2], [0, 0, 200, 100, 0.5, 0]], dtype=np.float32)
    records = detection_records(detections, ["a", "b", "c"])
    assert records[0] == {"box_xyxy": [10.0, 20.0, 110.0, 70.0], "score": 0.875, "class": 2, "name": "c"}
    assert yolo_lines(detections, 200, 100).splitlines() == ["2 0.300000 0.450000 0.500000 0.500000 0.87500",
                                                              "0 0.500000 0.500000 1.000000 1.000000 0.50000"]
