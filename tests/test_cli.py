"""``python -m goldyolo``: help on every command, defaults from one place, exit codes, a light import."""
from __future__ import annotations

import subprocess
import sys

import pytest

from goldyolo.cli import main
from goldyolo.commands import COMMANDS

from conftest import ROOT, SAMPLE


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "goldyolo", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", [[]] + [name.split() for name in COMMANDS])
def test_help(command, capsys):
    """Every command of the table (and the top level) prints its help, in this process."""
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0
    assert "usage: python -m goldyolo" in capsys.readouterr().out


def test_every_command_target_resolves():
    import importlib
    for name, command in COMMANDS.items():
        module, _, attr = command.target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), name
        if command.config:
            module, _, attr = command.config.partition(":")
            assert isinstance(getattr(importlib.import_module(module), attr), type), name


def test_info_prints_official_counts(capsys):
    assert main(["info", "gold_yolo-n", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "training form: 6,062,590 parameters" in out
    assert "[Params: 6.06M, Gflops: 13.49]" in out
    assert "[Params: 5.62M, Gflops: 12.11]" in out
    assert "backbone" in out and "EfficientRep" in out and "5.6 M parameters, 12.1 GFLOPs" in out


def test_info_rejects_unknown_model():
    done = run("info", "gold_yolo-x")
    assert done.returncode == 2
    assert "invalid choice: 'gold_yolo-x'" in done.stderr


def test_convert_reports_missing_file(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "none.pt"), str(tmp_path / "o.pkl"), "--model", "gold_yolo-n"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_table_command_prints_the_model_table(capsys):
    from goldyolo.models.info import model_table
    main(["table"])
    table = model_table(640)
    assert table in capsys.readouterr().out
    assert "| gold_yolo-s | 21.54 | 46.14 | 23.20 | 21.5 | 46.0 | 46.4 |" in table
    assert "python -m goldyolo table" in (ROOT / "docs" / "models.md").read_text()  # the docs point to it


LIGHT = ("import sys; from goldyolo.cli import main\n"
         "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
         "print('jittor loaded:', 'jittor' in sys.modules)")


@pytest.mark.parametrize("command", [["--help"], ["data", "split", "--help"], ["parity-report", "--help"]])
def test_help_and_split_do_not_load_jittor(command):
    done = subprocess.run([sys.executable, "-c", LIGHT, *command], capture_output=True, text=True)
    assert done.stdout.strip().endswith("jittor loaded: False"), done.stdout + done.stderr


def test_options_are_typed_and_every_field_is_one_the_target_or_its_config_takes():
    import dataclasses
    import inspect

    from goldyolo.cli import _load
    from goldyolo.commands import COMMANDS, Option
    for name, command in COMMANDS.items():
        assert all(isinstance(o, Option) for o in command.options), name
        target = inspect.signature(_load(command.target)).parameters
        fields = {f.name for f in dataclasses.fields(_load(command.config))} if command.config else set(target)
        for option in command.options:
            assert option.name in (set(target) if option.keyword else fields), f"{name}: --{option.name}"
    train = {o.name: o for o in COMMANDS["train"].options}
    assert train["lr0"].type is float and train["resume"].keyword  # a real config field; the one keyword


def test_the_study_is_not_part_of_the_library_and_runs_through_its_cli():
    from goldyolo.commands import COMMANDS
    assert "report" not in COMMANDS and not (ROOT / "goldyolo" / "study").exists()
    assert not any(target.startswith("goldyolo_study") for target in (c.target for c in COMMANDS.values()))
    done = subprocess.run([sys.executable, "-m", "goldyolo_study", "report", "--help"], capture_output=True,
                          text=True, cwd=ROOT)
    assert done.returncode == 0 and "--profile {quick,full,ci}" in done.stdout, done.stderr


def test_data_split_runs_without_jittor(tmp_path):
    sample = SAMPLE / "instances.json"
    done = subprocess.run([sys.executable, "-c", LIGHT, "data", "split", "--ann", str(sample), "--out",
                           str(tmp_path), "--test", "4", "--any-source"], capture_output=True, text=True)
    assert "test: 4 images" in done.stdout and done.stdout.strip().endswith("jittor loaded: False"), done.stderr
    assert (tmp_path / "train.json").is_file()


def test_import_goldyolo_does_not_load_jittor_until_a_model_is_used():
    code = ("import sys, goldyolo; a = 'jittor' in sys.modules; goldyolo.get_config('gold_yolo-n'); "
            "b = 'jittor' in sys.modules; goldyolo.build_model; print(a, b, 'jittor' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split()[-3:] == ["False", "False", "True"], done.stderr


def test_option_defaults_come_from_the_config_dataclass():
    import dataclasses

    from goldyolo.bench.measure import BenchConfig
    from goldyolo.cli import build_parser
    from goldyolo.engine.trainer import TrainConfig
    args = build_parser(["train"]).parse_args(["train", "--data", "x.json"])
    for field in dataclasses.fields(TrainConfig):
        if hasattr(args, field.name) and field.name != "data":
            assert getattr(args, field.name) == field.default, field.name
    assert args.augment is True and args.resume is False and args.lr0 is None
    assert build_parser(["train"]).parse_args(["train", "--data", "x", "--no-augment"]).augment is False
    bench = build_parser(["bench"]).parse_args(["bench"])
    assert (bench.img_size, bench.runs, bench.batch) == (BenchConfig.img_size, BenchConfig.runs, BenchConfig.batch)


def test_comparison_commands_fill_their_configs():
    from goldyolo.cli import COMMANDS, _call, build_parser
    from goldyolo.compare.step_parity import StepParityConfig
    from goldyolo.compare.train_compare import CompareConfig
    argv = ["compare-train", "--torch-reference", "P", "--seeds", "3", "4", "--frameworks", "goldyolo"]
    args = build_parser(argv).parse_args(argv)
    seen = {}
    import goldyolo.compare.train_compare as module
    original = module.compare_train
    module.compare_train = lambda cfg: seen.setdefault("cfg", cfg) and "done"
    try:
        _call(COMMANDS["compare-train"], args)
    finally:
        module.compare_train = original
    cfg = seen["cfg"]
    assert isinstance(cfg, CompareConfig) and cfg.seeds == [3, 4] and cfg.frameworks == ["goldyolo"]
    assert (cfg.model, cfg.img_size, cfg.epochs, cfg.batch_size) == ("gold_yolo-n", 320, 30, 16)
    steps = build_parser(["compare-steps"]).parse_args(["compare-steps", "--torch-reference", "P"])
    assert (steps.steps, steps.steps_per_epoch, steps.control, steps.augment) == (StepParityConfig.steps, 6, 1e-7, True)
    bad = ["compare-train", "--torch-reference", "P", "--frameworks", "pytorch"]
    with pytest.raises(SystemExit):
        build_parser(bad).parse_args(bad)


def test_exit_codes(tmp_path, capsys, monkeypatch):
    from goldyolo.errors import GoldYoloError, InputError
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["data", "split", "--ann", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert str(bad) in capsys.readouterr().err

    from goldyolo.data import split

    def raising(error):
        def target(**_):
            raise error
        return target
    for error, code in ((InputError("bad input"), 2), (FileNotFoundError("gone"), 2), (GoldYoloError("a check"), 1)):
        monkeypatch.setattr(split, "split_command", raising(error))
        assert main(["data", "split", "--ann", "x"]) == code
    # a programming error is not taken for bad input: it propagates with its traceback
    monkeypatch.setattr(split, "split_command", raising(TypeError("a bug")))
    with pytest.raises(TypeError, match="a bug"):
        main(["data", "split", "--ann", "x"])
