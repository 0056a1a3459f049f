"""How the notebooks' results read in the document: names for the code's identifiers, and table cells that must
not wrap on the printed page."""
from __future__ import annotations

import html
import re
from typing import Dict, Optional, Sequence

import numpy as np
import pandas as pd

# the report's print CSS keeps cells with this class on one line (others wrap to fit the page)
NOWRAP_CLASS = "nowrap"


# the records' identifiers (loss items, columns, modes) as the document's prose names them
WORDS = {"iou_loss": "IoU loss", "dfl_loss": "DFL loss", "cls_loss": "class loss", "time_s": "time (s)",
         "skipped_steps": "skipped steps", "images_per_s": "images/s", "fixed_target": "fixed target",
         "synthetic_target": "synthetic target", "reproduce_640": "paper's 640 px", "train_step": "training step",
         "channels_last": "channels-last", "pooling_v2": "pooling", "zero_grad": "gradient reset",
         "ComputeLoss": "the official loss", "siou": "SIoU", "depth_multiple": "depth multiplier",
         "width_multiple": "width multiplier"}
_WORD = re.compile(r"\b(" + "|".join(map(re.escape, WORDS)) + r")\b")
# a printed line's ASCII stand-ins for the signs the document sets: arrows, plus-minus, times (x0.02)
SIGNS = ((re.compile(r" -> "), " → "), (re.compile(r"\+-"), "±"), (re.compile(r"(?<![\w.])x(?=\d)"), "×"),
         (re.compile(r"(?<=\d) x (?=[\w(])"), " × "), (re.compile(r"(?<=\d)x\b"), "×"), (re.compile(r" >= "), " ≥ "),
         (re.compile(r" <= "), " ≤ "), (re.compile(r"\^2\b"), "²"))
_MODEL = re.compile(r"\bgold_yolo-([nsml])\b")


def ap_text(value: float, like: Optional[float] = None) -> str:
    """An AP as the report's tables show it: four decimals from 0.01 up, else three significant digits; with
    ``like`` (a spread beside its mean), to the decimals of ``like`` as shown, so that both read in one notation
    (``0.000513, spread 0.000071``)."""
    if abs(value if like is None else like) >= 0.01:
        return f"{value:.4f}"
    if like is None or like == 0:
        return f"{value:.3g}"
    return f"{value:.{len(significant(like, 3).split('.')[-1])}f}"


def significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits without an exponent (``0.00007921`` beside ``0.0003480``, not
    ``7.921e-05``): one column, one notation."""
    if float(value).is_integer():
        return f"{int(value)}"  # a count (epochs) stays a whole number
    decimals = max(0, digits - 1 - int(np.floor(np.log10(abs(value)))))
    return f"{value:.{decimals}f}"


# a data check's kinds as the document says them: (the counted thing, what was done with it)
CHECK_WORDS = {"crowd_box_ignored": ("crowd box", "ignored"), "box_clipped": ("box", "clipped to its image"),
               "missing_image": ("missing image", "skipped"), "unreadable_image": ("unreadable image", "skipped")}


def checks_in_words(counts: Dict[str, int]) -> str:
    """A data check's counts as a phrase: ``4 grayscale images read as colour, 2 crowd boxes ignored``."""
    parts = []
    for kind, count in sorted(counts.items()):
        converted = kind.startswith("converted_")  # an image mode read as 3-channel colour
        thing, done = CHECK_WORDS.get(kind, (f"{kind[len('converted_'):]} image", "read as colour") if converted
                                      else (kind.replace("_", " "), "found"))
        parts.append(f"{plural(count, thing)} {done}")
    return ", ".join(parts) or "nothing skipped or changed"


def unbroken(text: str) -> str:
    """A table cell's text kept on one line (a date otherwise breaks at its hyphens in a narrow column): non-breaking
    hyphens and spaces (the markdown renderer does not keep an inline span around the text)."""
    return text.replace("-", "\u2011").replace(" ", "\u00a0")


def plural(count: int, word: str) -> str:
    """``count`` and ``word``, plural unless the count is one: ``1 box``, ``2,000 boxes``."""
    return f"{count:,} {word}" + ("" if count == 1 else ("es" if word.endswith(("s", "x")) else "s"))


def on_device(device: str) -> str:
    """A run's ``--device`` in words: ``on the CPU``, ``on the GPU``."""
    return {"cpu": "on the CPU", "cuda": "on the GPU"}.get(device, f"on {device}")


def model_label(name: str) -> str:
    """``gold_yolo-n`` as the document names it: ``Gold-YOLO-N``."""
    return "Gold-YOLO-" + name.rsplit("-", 1)[-1].upper()


def readable(text: str) -> str:
    """``text`` with the code's identifiers in the document's words (``gold_yolo-n``: ``Gold-YOLO-N``, ``iou_loss``:
    ``IoU loss`` and the other :data:`WORDS`) and the signs of :data:`SIGNS`."""
    text = _WORD.sub(lambda m: WORDS[m.group(1)], _MODEL.sub(lambda m: model_label(m.group(0)), text))
    for pattern, sign in SIGNS:
        text = pattern.sub(sign, text)
    return text


def readable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its text cells, index and column names in the document's words (see :func:`readable`)."""
    frame = readable_columns(frame.map(lambda v: readable(v) if isinstance(v, str) else v))
    return frame.rename(index=lambda v: readable(v) if isinstance(v, str) else v)


def readable_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column and index names in the document's words (see :func:`readable`)."""
    frame = frame.rename(columns=lambda c: readable(c) if isinstance(c, str) else c)
    names = [readable(n) if isinstance(n, str) else n for n in frame.index.names]
    return frame.rename_axis(index=names if len(names) > 1 else names[0])


def command_html(command: str) -> str:
    """A shell command for an HTML table cell: lines break between its words, never at an option's hyphens (a
    copied command stays whole); a word longer than :data:`LONG_WORD` also after its commas and slashes."""
    return " ".join(f'<span style="white-space: nowrap">{html.escape(word)}</span>' if len(word) <= LONG_WORD
                    else html.escape(word).replace(",", ",<wbr>").replace("/", "/<wbr>") for word in command.split())


LONG_WORD = 32  # a longer word (a list of settings, a long path) may break after its commas and slashes


def text_html(text: str) -> str:
    """Text for an HTML table cell whose long words (a web address) break after their slashes first."""
    return " ".join(html.escape(word).replace("/", "/<wbr>") if len(word) > LONG_WORD else html.escape(word)
                    for word in text.split())


def command_table(frame: pd.DataFrame, column: str = "command", first_width: int = 25):
    """``frame`` styled as a table of commands that fits the printed page: the full width, fixed columns (the
    first ``first_width`` percent), ``column`` through :func:`command_html`, the other cells wrapping anywhere."""
    first = frame.columns[0]
    return (frame.style.hide(axis="index").format(command_html, subset=[column])
            .format(text_html, subset=[c for c in frame.columns if c != column])
            .set_table_styles([{"selector": "", "props": "width: 100%; table-layout: fixed;"},
                               {"selector": "th.col0, td.col0", "props": f"width: {first_width}%;"}])
            .set_properties(**{"text-align": "left", "white-space": "normal"})
            .set_properties(subset=[c for c in frame.columns if c != column] or [first],
                            **{"overflow-wrap": "anywhere"}))


def nowrap(styler, columns: Optional[Sequence[str]] = None):
    """``styler`` with the cells of ``columns`` (all when None) kept on one line: numbers such as ``9.2e-05`` or
    names such as ``Gold-YOLO-N`` otherwise break at their hyphens when a table shrinks to the page."""
    data = styler.data
    chosen = list(data.columns) if columns is None else [c for c in columns if c in data.columns]
    classes = pd.DataFrame("", index=data.index, columns=data.columns)
    classes[chosen] = NOWRAP_CLASS
    return styler.set_td_classes(classes)
