"""Table cells kept on one line in the printed report (``goldyolo_study.style``)."""
from __future__ import annotations

import re

import pandas as pd

from goldyolo_study import report, style


def test_chosen_columns_get_the_class_the_print_css_keeps_on_one_line():
    frame = pd.DataFrame({"model": ["Gold-YOLO-N"], "error": [9.2e-05], "note": ["long text that may wrap"]})
    html = style.nowrap(frame.style.format("{:.1e}", subset=["error"]), ["model", "error", "absent"]).to_html()
    classes = {cell: cls for cls, cell in re.findall(r'<td[^>]*class="([^"]*)"[^>]*>([^<]*)</td>', html)}
    assert "nowrap" in classes["Gold-YOLO-N"] and "nowrap" in classes["9.2e-05"]
    assert "nowrap" not in classes["long text that may wrap"]
    assert "nowrap" in style.nowrap(frame.style).to_html().split("long text")[0].rsplit("<td", 1)[1]
    assert f"td.{style.NOWRAP_CLASS} {{ white-space: nowrap !important; }}" in report._PRINT_CSS


def test_identifiers_read_as_the_documents_words():
    text = style.readable("last epoch's iou_loss of gold_yolo-n, cls_loss")
    assert text == "last epoch's IoU loss of Gold-YOLO-N, class loss"
    assert style.readable("my_iou_loss gold_yolo-nano") == "my_iou_loss gold_yolo-nano"  # whole names only
    frame = pd.DataFrame({"epoch": [0], "iou_loss": [1.5], "time_s": [70]}).set_index("epoch")
    named = style.readable_columns(frame)
    assert list(named.columns) == ["IoU loss", "time (s)"] and named.index.name == "epoch"
    assert named["IoU loss"].iloc[0] == 1.5


def test_printed_signs_read_as_the_documents_signs():
    from goldyolo_study.style import readable
    assert readable("loss 3.1 -> 2.4, mean +- spread, rates x0.02 (x1.03), 0x1f, max(3, x)") == (
        "loss 3.1 → 2.4, mean ± spread, rates ×0.02 (×1.03), 0x1f, max(3, x)")
    assert readable("ComputeLoss (TAL, siou, no DFL)") == "the official loss (TAL, SIoU, no DFL)"


def test_commands_break_between_words_only():
    import pandas as pd

    from goldyolo_study.style import command_html, command_table
    assert command_html("python -m x --out a<b") == " ".join(
        f'<span style="white-space: nowrap">{word}</span>' for word in ("python", "-m", "x", "--out", "a&lt;b"))
    assert command_html("--settings " + "a:1,b:2," * 5) == ('<span style="white-space: nowrap">--settings</span> '
                                                          + "a:1,<wbr>b:2,<wbr>" * 5)
    html = command_table(pd.DataFrame({"part": ["a"], "command": ["python -m x"]})).to_html()
    assert "table-layout: fixed" in html and "width: 25%" in html and "nowrap" in html


def test_significant_digits_without_an_exponent():
    assert [style.significant(v) for v in (7.921e-05, 0.000348, 0.10934, 1.1586, 30.0, 0.598)] == [
        "0.00007921", "0.0003480", "0.1093", "1.159", "30", "0.5980"]  # one precision in a column


def test_a_web_address_in_a_table_cell_breaks_after_its_slashes():
    address = "https://drive.google.com/drive/folders/1dd2KJjYfHrXwKasfjDeL1eLX0Vp6UaLG"
    assert style.text_html(f"the folder {address} & more") == (
        "the folder https:/<wbr>/<wbr>drive.google.com/<wbr>drive/<wbr>folders/<wbr>1dd2KJjYfHrXwKasfjDeL1eLX0Vp6UaLG "
        "&amp; more")


def test_a_spread_reads_in_the_notation_of_its_mean():
    assert style.ap_text(0.000513) == "0.000513" and style.ap_text(7.09e-05, 0.000513) == "0.000071"
    assert style.ap_text(0.000143, 0.00121) == "0.00014"
    assert style.ap_text(0.0021, 0.1093) == "0.0021" and style.ap_text(0.1093) == "0.1093"
    assert style.ap_text(3.88e-06) == "3.88e-06"  # alone, three significant digits


def test_a_data_check_in_words():
    assert style.checks_in_words({"crowd_box_ignored": 19}) == "19 crowd boxes ignored"
    assert style.checks_in_words({"converted_grayscale": 4, "crowd_box_ignored": 1}) == (
        "4 grayscale images read as colour, 1 crowd box ignored")
    assert style.checks_in_words({"bad_label_line": 2}) == "2 bad label lines found"
    assert style.checks_in_words({}) == "nothing skipped or changed"
