"""How every command's help page, usage line and usage errors look.

Plain text, the way users of dcraw, ImageMagick and ripgrep read help: a conventional usage line
(``rawcolour raw2rgb [OPTIONS] INPUT...``), the options in sections (a flag shows as a flag; an
option that takes a value shows it, e.g. ``--tile auto|N|0``), notes, and an Examples section of
real command lines at the end. Text is wrapped to the terminal, at most ``MAX_WIDTH`` columns.

A command called with nothing at all prints its usage line and one hint (exit 2), not the whole
page; a bad option or value is one ``rawcolour: error:`` line naming the page to read (exit 2).
"""

from __future__ import annotations

import enum
import inspect
import textwrap
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer up to 0.19 uses click; later versions vendor it as typer._click
    from click import Context, HelpFormatter
    from click.exceptions import UsageError as ClickUsageError
    from click.formatting import join_options
except ImportError:  # pragma: no cover - depends on the installed typer
    from typer._click import Context, HelpFormatter  # type: ignore[no-redef]
    from typer._click.exceptions import UsageError as ClickUsageError  # type: ignore[no-redef]
    from typer._click.formatting import join_options  # type: ignore[no-redef]

from rawcolour.cli.common import EXIT_USAGE, err_console, error_line

MAX_WIDTH = 100  # help text uses the terminal's width up to this many columns
_NAME_COLUMN = 26  # widest option name kept on the line of its help text
Example = tuple[str, str]  # (command line, what it does)


def _metavar(param: Any) -> str:
    """What an option takes: its metavar, its choices (a|b|c), or its name in capitals."""
    if param.metavar:
        return str(param.metavar)
    descriptor = getattr(param, "type_descriptor", None) or getattr(param, "type", None)
    choices = getattr(descriptor, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    kind = param.bare_type() if hasattr(param, "bare_type") else ""
    return {"int": "N", "float": "X", "Path": "PATH"}.get(kind, "TEXT")


def _default_text(param: Any) -> str:
    """'[default: X]' when the option shows a default worth reading, else ''."""
    if isinstance(param.show_default, str):
        return f"[default: {param.show_default}]"
    default = param.default
    if not param.show_default or default is None or isinstance(default, bool) or callable(default):
        return ""
    if isinstance(default, enum.Enum):
        default = default.value
    if isinstance(default, (list, tuple)):
        if not default:
            return ""
        default = ", ".join(str(d) for d in default)
    return f"[default: {default}]"


def _option_row(param: Any) -> tuple[str, str, str]:
    """(names and what the option takes, help text, "[default: X]" or "[required]" or "")."""
    names, _ = join_options(param.opts)
    if param.secondary_opts:
        names += " / " + join_options(param.secondary_opts)[0]
    if not param.is_flag and not getattr(param, "count", False):
        names += " " + _metavar(param)
    text = " ".join(inspect.cleandoc(param.help or "").split())
    tail = "[required]" if param.required else ("" if param.is_flag else _default_text(param))
    return names, text, tail


def _has_short(param: Any) -> bool:
    return any(not opt.startswith("--") for opt in param.opts)


def _argument_row(param: Any) -> tuple[str, str, str]:
    return _argument_name(param), " ".join(inspect.cleandoc(param.help or "").split()), ""


def _argument_name(param: Any) -> str:
    name = str(param.metavar or (param.name or "arg").upper())
    return name + ("..." if param.nargs != 1 and not name.endswith("...") else "")


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` columns, never breaking a word or a name such as sgan-isp-tiny."""
    return textwrap.wrap(text, max(width, 20), break_on_hyphens=False, break_long_words=False) or [""]


def _write_dl(formatter: HelpFormatter, rows: Sequence[tuple[str, str, str]]) -> None:
    """Names and their help text in two columns; a name too wide for the first gets a line of its own.
    The tail ("[default: auto]") is never split: it ends the last line, or gets a line of its own."""
    indent = " " * formatter.current_indent
    column = min(max((len(row[0]) for row in rows), default=0), _NAME_COLUMN) + 2
    for name, text, tail in rows:
        width = formatter.width - formatter.current_indent - column
        lines = [line for line in _wrap(text, width) if line]
        if tail and lines and len(lines[-1]) + 2 + len(tail) <= max(width, 20):
            lines[-1] = f"{lines[-1]}  {tail}"
        elif tail:
            lines.append(tail)
        out = [f"{name:<{column}}{lines.pop(0)}" if lines and len(name) + 2 <= column else name]
        out += [" " * column + line for line in lines]
        formatter.write("".join(f"{indent}{line}".rstrip() + "\n" for line in out))


def _write_sections(command: Any, ctx: Context, formatter: HelpFormatter) -> None:
    """Arguments, then options grouped by their help panel (the plain Options first)."""
    arguments = [p for p in command.get_params(ctx) if p.param_type_name == "argument" and not p.hidden and p.help]
    if arguments:
        with formatter.section("Arguments"):
            _write_dl(formatter, [_argument_row(p) for p in arguments])
    panels: dict[str | None, list[Any]] = {None: []}
    for param in command.get_params(ctx):
        if param.param_type_name == "option" and not param.hidden:
            panels.setdefault(getattr(param, "rich_help_panel", None), []).append(param)
    short = any(_has_short(p) for params in panels.values() for p in params)
    for panel, params in panels.items():
        if params:
            with formatter.section(panel or "Options"):
                # long-only options line up with the long names of "-x, --long" pairs
                rows = [_option_row(p) for p in params]
                _write_dl(formatter, [(name if _has_short(p) or not short else "    " + name, text, tail)
                                      for p, (name, text, tail) in zip(params, rows)])


def _write_epilog(command: Any, formatter: HelpFormatter) -> None:
    """The notes (wrapped paragraphs), then the examples: command lines as they are, never wrapped
    (they are copied into a shell), each with what it does below it."""
    if command.epilog:
        with formatter.section("Notes"):
            _write_paragraphs(formatter, command.epilog)
    if command.examples:
        with formatter.section("Examples"):
            for line, what in command.examples:
                for part in line.splitlines():  # a long command continues on lines ending in a backslash
                    formatter.write(f"{' ' * formatter.current_indent}{part}\n")
                for text in _wrap(what, formatter.width - formatter.current_indent - 4) if what else []:
                    formatter.write(f"{' ' * (formatter.current_indent + 4)}{text}\n")


def _write_paragraphs(formatter: HelpFormatter, text: str) -> None:
    """Paragraphs (split at blank lines) wrapped at the current indentation, a blank line between them."""
    indent = " " * formatter.current_indent
    for i, paragraph in enumerate(inspect.cleandoc(text).split("\n\n")):
        if i:
            formatter.write("\n")
        for line in _wrap(" ".join(paragraph.split()), formatter.width - formatter.current_indent):
            formatter.write(f"{indent}{line}\n")


def _write_commands(group: Any, ctx: Context, formatter: HelpFormatter) -> None:
    rows = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            summary = command.short_help or inspect.cleandoc(command.help or "").split("\n\n")[0]
            rows.append((name, " ".join(summary.split()), ""))
    if rows:
        with formatter.section("Commands"):
            _write_dl(formatter, rows)


def _usage_pieces(command: Any, ctx: Context) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            name = _argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
    return pieces


def _format_help(command: Any, ctx: Context, formatter: HelpFormatter) -> None:
    formatter.width = min(formatter.width, MAX_WIDTH)
    command.format_usage(ctx, formatter)
    if command.help:
        formatter.write("\n")
        with formatter.indentation():
            _write_paragraphs(formatter, command.help.partition("\f")[0])
    _write_sections(command, ctx, formatter)
    if isinstance(command, TyperGroup):
        _write_commands(command, ctx, formatter)
    _write_epilog(command, formatter)


def usage_hint(ctx: Context) -> str:
    """The one hint printed under a usage line: the page to read, and the first example."""
    first = f"; e.g. {ctx.command.examples[0][0]}" if getattr(ctx.command, "examples", ()) else ""
    return f"Try '{ctx.command_path} --help' for the options and examples{first}"


class Command(TyperCommand):
    """A command whose help, usage line and usage errors follow the module docstring."""

    examples: tuple[Example, ...] = ()

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        return _usage_pieces(self, ctx)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_help(self, ctx, formatter)

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing and any(p.required for p in self.get_params(ctx)):
            err_console.print(self.get_usage(ctx), markup=False, highlight=False)
            err_console.print(usage_hint(ctx), markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE)
        try:
            return super().parse_args(ctx, args)
        except ClickUsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError":
                raise
            message = " ".join(err.format_message().split()).rstrip(".")
            err_console.print(f"{error_line(message)}; see `{ctx.command_path} --help`", markup=False, highlight=False)
            raise typer.Exit(EXIT_USAGE) from None


class Group(TyperGroup):
    """A command group with the same plain help and an Examples section."""

    examples: tuple[Example, ...] = ()

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        _format_help(self, ctx, formatter)


def with_examples(base: type, examples: Sequence[Example]) -> type:
    """``base`` (Command or Group) whose help page ends with these examples (3 to 6 command lines)."""
    return type(base.__name__, (base,), {"examples": tuple(examples)})


__all__ = ["Command", "Example", "Group", "MAX_WIDTH", "usage_hint", "with_examples"]
