"""One error model: the package's errors derive from GoldYoloError, bad input raises InputError naming
the file, and argument checks raise ValueError rather than relying on ``assert``."""
from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import json
import pkgutil
from pathlib import Path

import pytest

import goldyolo
from goldyolo.errors import GoldYoloError, InputError, InputNotFoundError

PACKAGE = Path(goldyolo.__file__).resolve().parent
BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                      if inspect.isclass(value) and issubclass(value, BaseException)}


def package_modules():
    """Every module name of the package, except ``__main__`` (importing it runs the CLI)."""
    names = [info.name for info in pkgutil.walk_packages(goldyolo.__path__, "goldyolo.")]
    return [name for name in names if not name.endswith(".__main__")]


def exception_classes_by_source(path: Path):
    """(class name, base names) of the classes in ``path`` whose bases look like exceptions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
            if any(b in BUILTIN_EXCEPTIONS or b.endswith(("Error", "Exception")) for b in bases):
                found.append((node.name, bases))
    return found


def test_every_error_class_of_the_package_is_a_goldyolo_error():
    imported, skipped, checked = set(), [], []
    for name in package_modules():
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name and err.name.split(".")[0] == "goldyolo":
                raise
            skipped.append(name)  # an optional dependency (torch, nbclient) is missing: checked by source below
            continue
        imported.add(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == name:
                checked.append(value)
                assert issubclass(value, GoldYoloError), f"{name}.{value.__qualname__} is not a GoldYoloError"
    goldyolo_bases = {"GoldYoloError", "InputError"} | {cls.__name__ for cls in checked}
    for name in skipped:
        path = PACKAGE.joinpath(*name.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for cls, bases in exception_classes_by_source(path):
            assert goldyolo_bases & set(bases), f"{name}.{cls} ({', '.join(bases)}) is not a GoldYoloError"
    assert {"goldyolo.errors", "goldyolo.config", "goldyolo.models.checkpoint"} <= imported
    assert {InputError, InputNotFoundError} <= set(checked) and len(checked) >= 10


def test_library_code_has_no_assert_statements():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assert):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, ("assert in library code (python -O drops it; raise ValueError instead): "
                           + ", ".join(offenders))


def test_input_error_is_a_value_error_and_not_found_a_file_not_found_error():
    assert issubclass(InputError, ValueError) and issubclass(InputError, GoldYoloError)
    assert issubclass(InputNotFoundError, InputError) and issubclass(InputNotFoundError, FileNotFoundError)


def test_unknown_model_name_is_an_input_error_and_a_key_error():
    from goldyolo.config import UnknownModelError, get_config
    with pytest.raises(UnknownModelError) as caught:
        get_config("gold_yolo-x")
    assert isinstance(caught.value, InputError) and isinstance(caught.value, KeyError)
    assert str(caught.value).startswith("unknown model 'gold_yolo-x'; choose one of gold_yolo-n")


def test_malformed_annotation_json_names_the_file(tmp_path):
    from goldyolo.data import CocoSource
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(InputError, match=r"broken\.json: not a valid COCO annotation file"):
        CocoSource(tmp_path / "broken.json", tmp_path)


def test_missing_annotation_file_and_images_folder_name_the_path(tmp_path):
    from goldyolo.data import CocoSource
    with pytest.raises(InputNotFoundError, match=r"annotation file not found: .*absent\.json"):
        CocoSource(tmp_path / "absent.json", tmp_path)
    (tmp_path / "ann.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    with pytest.raises(InputNotFoundError, match=r"images folder not found: .*no_images"):
        CocoSource(tmp_path / "ann.json", tmp_path / "no_images")


def test_split_of_unreadable_json_names_the_file(tmp_path):
    from goldyolo.data.split import write_splits
    (tmp_path / "instances.json").write_text("not json")
    with pytest.raises(InputError, match=r"instances\.json: cannot read COCO json"):
        write_splits(tmp_path / "instances.json", tmp_path / "out")


def test_bad_weights_files_name_the_file(tmp_path):
    from goldyolo.models.checkpoint import read_checkpoint
    from goldyolo.models.official import load_official_checkpoint
    garbage = tmp_path / "garbage.pkl"
    garbage.write_bytes(b"this is not a pickle")
    with pytest.raises(InputError, match=r"garbage\.pkl: not a readable checkpoint"):
        read_checkpoint(garbage)
    with pytest.raises(InputNotFoundError, match=r"checkpoint not found: .*missing\.pkl"):
        read_checkpoint(tmp_path / "missing.pkl")
    with pytest.raises(InputError, match=r"garbage\.pkl: not a torch zip checkpoint"):
        load_official_checkpoint(garbage)


def test_training_checkpoint_check_names_the_file(tmp_path):
    from goldyolo.models.checkpoint import write_checkpoint
    from goldyolo.models.trained import load_trained_model
    path = write_checkpoint({"format": "something else"}, tmp_path / "other.pkl")
    with pytest.raises(InputError, match=r"other\.pkl: not a goldyolo training checkpoint"):
        load_trained_model(path)


def test_unknown_profile_is_an_input_error():
    from goldyolo_study.profiles import parameters
    with pytest.raises(InputError, match="unknown profile 'nightly'"):
        parameters("nightly")


@pytest.mark.parametrize("build", [
    lambda common: common.RepVGGBlock(8, 8, kernel_size=1, padding=0),
    lambda common: common.SPPF(8, 8, kernel_size=3),
    lambda common: common.CSPSPPF(8, 8, kernel_size=3),
])
def test_block_argument_checks_raise_value_error(build):
    from goldyolo.models import common
    with pytest.raises(ValueError, match="kernel_size"):
        build(common)
