"""Command line: ``python -m goldyolo COMMAND``. Each command parses its options and makes one call into the
module that does the work; defaults are read from that function's signature or config dataclass. Only the
chosen command's module is imported (``--help`` and ``data split`` never load Jittor).

Exit codes: 0 done; 1 a check failed (memory not flat, a benchmark setting failed) or a run stopped on an error
of its own (e.g. non-finite losses); 2 bad input (a missing or unreadable file, bad weights, an unknown model or
notebook, no network for a download; the message names it). Programming errors show their traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
from typing import Dict, List, Optional, Sequence

from .commands import COMMANDS, GROUPS, Command
from .errors import GoldYoloError, InputError


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _defaults(command: Command) -> Dict[str, object]:
    """Defaults of the target's parameters, and of the fields of its config dataclass."""
    found = {k: p.default for k, p in inspect.signature(_load(command.target)).parameters.items()
             if p.default is not p.empty}
    if command.config:
        found.update({f.name: f.default for f in dataclasses.fields(_load(command.config))
                      if f.default is not dataclasses.MISSING})
    return found


def _add_options(parser: argparse.ArgumentParser, command: Command) -> None:
    defaults = _defaults(command)
    for option in command.options:
        kw = option.argparse_keywords()
        name, text = option.name, option.help
        default = defaults.get(name)
        if option.positional:
            parser.add_argument(name, help=text, **kw)
        elif isinstance(default, bool) and "action" not in kw:
            flag = "--no-" + name.replace("_", "-") if default else "--" + name.replace("_", "-")
            parser.add_argument(flag, dest=name, action="store_false" if default else "store_true",
                                help=f"skip {text}" if default else text)
        else:
            if "action" not in kw:
                kw.setdefault("type", type(default) if default not in (None, "") else str)
            shown = f" (default: {default})" if default not in (None, "") and "default" not in text else ""
            parser.add_argument("--" + name.replace("_", "-"), default=default, help=text + shown, **kw)


DESCRIPTION = ("Gold-YOLO in Jittor: train, evaluate, predict, inspect and convert. Exit codes: 0 done, 1 a check "
               "failed, 2 bad input.")


def build_parser(argv: Sequence[str] = (), table: Optional[Dict[str, Command]] = None, prog: str = "python -m goldyolo",
                 description: str = DESCRIPTION) -> argparse.ArgumentParser:
    """The parser of a command table (default: goldyolo's); only the command named in ``argv`` gets its options
    (and imports its module)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    commands = parser.add_subparsers(dest="command", required=True)
    words = [a for a in argv if not a.startswith("-")][:2]
    groups: Dict[str, argparse._SubParsersAction] = {}
    for name, command in (COMMANDS if table is None else table).items():
        group, _, leaf = name.rpartition(" ")
        if group and group not in groups:
            groups[group] = commands.add_parser(group, help=GROUPS[group]).add_subparsers(dest="subcommand",
                                                                                          required=True)
        sub = (groups[group] if group else commands).add_parser(leaf, help=command.help, description=command.help)
        if name.split() == words[:len(name.split())]:
            _add_options(sub, command)
        sub.set_defaults(name=name)
    return parser


def _call(command: Command, args: argparse.Namespace):
    values = {o.name: getattr(args, o.name) for o in command.options if hasattr(args, o.name)}
    if not command.config:
        return _load(command.target)(**values)
    extra = {o.name: values.pop(o.name) for o in command.options if o.keyword}
    return _load(command.target)(_load(command.config)(**values), **extra)


def main(argv: Optional[List[str]] = None, table: Optional[Dict[str, Command]] = None,
         prog: str = "python -m goldyolo", description: str = DESCRIPTION) -> int:
    """Entry point of ``python -m goldyolo`` (or of another command table, as the study's); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    table = COMMANDS if table is None else table
    args = build_parser(argv, table, prog, description).parse_args(argv)
    try:
        result = _call(table[args.name], args)
    except (InputError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except GoldYoloError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    return result if isinstance(result, int) else 0
