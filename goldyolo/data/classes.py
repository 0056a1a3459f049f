"""A COCO json restricted to some of its categories: a smaller task (person alone, a few frequent classes)
that a small machine can learn, made from a split with one command.

The chosen categories keep their COCO ids and names, so evaluation still maps detections to them; their
order in the file is the class order of training. An image is kept when it has a box of a chosen category
(crowd regions count, so that evaluation keeps ignoring them), or with ``keep_empty`` always (the others
then train as background).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..errors import InputError


def select_classes(coco: dict, names: Sequence[str], keep_empty: bool = False) -> dict:
    """``coco`` with only the categories named (in the order given), their annotations and their images."""
    by_name = {c["name"]: c for c in coco.get("categories", [])}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"no category named {', '.join(map(repr, unknown))}; the file has: "
                         f"{', '.join(sorted(by_name)) or 'none'}")
    if len(set(names)) != len(names):
        raise InputError(f"a category is named twice: {list(names)}")
    chosen = [by_name[n] for n in names]
    ids = {c["id"] for c in chosen}
    annotations = [a for a in coco.get("annotations", []) if a["category_id"] in ids]
    with_boxes = {a["image_id"] for a in annotations}
    images = [im for im in coco.get("images", []) if keep_empty or im["id"] in with_boxes]
    kept = {key: coco[key] for key in ("info", "licenses") if key in coco}
    return dict(kept, images=images, annotations=annotations, categories=chosen)


def class_counts(coco: dict) -> Dict[str, Dict[str, int]]:
    """Per category: images holding it and boxes (crowd regions apart)."""
    counts = {}
    for category in coco["categories"]:
        own = [a for a in coco["annotations"] if a["category_id"] == category["id"]]
        counts[category["name"]] = {"images": len({a["image_id"] for a in own}),
                                    "boxes": sum(1 for a in own if not a.get("iscrowd", 0)),
                                    "crowd": sum(1 for a in own if a.get("iscrowd", 0))}
    return counts


def _restrict(source: Path, target: Path, classes: List[str], keep_empty: bool) -> List[str]:
    if target.resolve() == source.resolve():
        raise InputError(f"{target}: the output would overwrite the input; choose another --out")
    try:
        coco = json.loads(source.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{source}: cannot read COCO json ({err})") from None
    try:
        subset = select_classes(coco, classes, keep_empty)
    except InputError as err:
        raise InputError(f"{source}: {err}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(subset))
    lines = [f"{name}: {c['images']} images, {c['boxes']} boxes (+{c['crowd']} crowd)"
             for name, c in class_counts(subset).items()]
    return lines + [f"{len(subset['images'])} of {len(coco.get('images', []))} images written to {target}"]


def classes_command(ann: Union[str, Sequence[str]] = (), classes: Optional[List[str]] = None, out: str = "",
                    keep_empty: bool = False) -> str:
    """``data classes``: write each COCO json of ``ann`` restricted to ``classes``; ``out`` is the output
    file for one json, else a folder that receives each under its own name (a split's train.json and
    test.json in one call). Returns what each holds."""
    sources = [Path(ann)] if isinstance(ann, (str, Path)) else [Path(a) for a in ann]
    if not sources:
        raise InputError("name at least one COCO json with --ann")
    if not classes:
        raise InputError("name at least one category with --classes")
    target = Path(out)
    if len(sources) == 1 and target.suffix == ".json":
        targets = [target]
    else:
        if target.suffix == ".json":
            raise InputError(f"{target}: several --ann files need an output folder, not a file")
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise InputError(f"two --ann files share a name ({', '.join(names)}): they would overwrite each other "
                             "in the output folder")
        targets = [target / name for name in names]
    lines = []
    for source, path in zip(sources, targets):
        lines += _restrict(source, path, list(classes), keep_empty)
    return "\n".join(lines)
