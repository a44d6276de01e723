"""`rawcolour train colourise|raw2rgb`: train a registry model (options parse here; the loop is rawcolour.train)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
import inspect
from dataclasses import MISSING, Field
from typing import Annotated, Any

import typer

from rawcolour.distributed import Ranks
from rawcolour.train.config import TrainConfig, config_fields
from rawcolour.cli.common import (
    CFA,
    EXIT_INTERRUPTED,
    BlackOpt,
    CfaOpt,
    DeviceOpt,
    QuietOpt,
    WhiteOpt,
    choice,
    err_console,
    library_errors,
    print_json,
)
from rawcolour.cli.help import Command, Example, with_examples

app = typer.Typer()

EXAMPLES: list[Example] = [
    ("rawcolour train colourise --data photos/ --model colorgan-tiny --out runs/c1",
     "colourisation from any folder of colour photos"),
    ("rawcolour train raw2rgb --data photos/ --synthetic-raw --model sgan-tiny \\\n    --lambda-perc 0",
     "a RAW developer without paired data (no VGG weights needed)"),
    ("rawcolour train raw2rgb --data photos/ --synthetic-raw --model sgan-tiny \\\n    --lambda-perc 0 --resume",
     "continue that run where it stopped (Ctrl-C saves first)"),
    ("rawcolour train raw2rgb --data ZRR/train --val ZRR/test --model sgan \\\n    --vgg-weights vgg16.pth",
     "the paper's recipe on paired Zurich data"),
    ("torchrun --nproc_per_node=4 -m rawcolour train colourise --data photos/ \\\n    --model colorgan-ibn-sn-md",
     "four processes, one shard of the data each"),
]


def _augment(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return ()
    return tuple(a.strip() for a in text.split(",") if a.strip())


class _Progress:
    """A rich progress bar on stderr (rank 0 only), fed by the loop's events."""

    def __init__(self, quiet: bool, main: bool = True):
        self.quiet = quiet or not main
        self.bar: Any = None
        self.task: Any = None
        self.val = ""

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        kind = event["kind"]
        if kind == "start":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
                TimeRemainingColumn

            tr = event["data"].get("train", {})
            if tr.get("greyscale_skipped") or tr.get("unreadable_skipped"):
                err_console.print(f"skipped {tr.get('greyscale_skipped', 0)} greyscale and "
                                  f"{tr.get('unreadable_skipped', 0)} unreadable photos", markup=False)
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                console=err_console, transient=False)
            self.bar.start()
            self.task = self.bar.add_task("train", total=event["total"], completed=event["step"], info="")
        elif self.bar is None:
            return
        elif kind == "stage":
            self.bar.update(self.task, description=f"stage {event['stage']}")
        elif kind == "val":
            m = event["metrics"]
            key = "l1" if "l1" in m else "ab_l1"
            self.val = f"val {key} {m[key]:.4f}" if key in m else ""
        elif kind == "step":
            losses = event["losses"]
            parts = [f"{k} {losses[k]:.3f}" for k in ("g", "d", "l1") if k in losses]
            self.bar.update(self.task, completed=event["step"], info="  ".join(parts + [self.val]))
        elif kind == "end":
            self.bar.update(self.task, completed=event["step"])
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


# Options every command that has them declares once (rawcolour.cli.common), with the same words.
_SHARED = {"device": DeviceOpt, "cfa": CfaOpt, "black": BlackOpt, "white": WhiteOpt}


def _parameter(f: Field) -> inspect.Parameter:
    """The typer parameter of one TrainConfig field, from the field's option() metadata."""
    if f.name in _SHARED:
        default = CFA(f.default) if f.name == "cfa" else f.default
        return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=_SHARED[f.name],
                                 default=default)
    meta = f.metadata
    kind: Any = {"str": str, "bool": bool, "int": int, "float": float}.get(str(f.type).split(" ")[0], str)
    default: Any = f.default
    if meta["path"]:
        kind = Path
    elif meta["choices"]:
        kind = choice(f.name, meta["choices"])
        default = default if default in (None, MISSING) else kind(default)
    elif f.name == "augment":
        kind = str  # a comma list on the command line (_augment)
    if "None" in str(f.type):
        kind = kind | None
    if meta["argument"]:
        info: Any = typer.Argument(help=meta["help"] or None)
    else:
        decl = meta["flag"] or "--" + f.name.replace("_", "-")
        info = typer.Option(decl, help=meta["help"] or None, rich_help_panel=meta["panel"])
    empty = inspect.Parameter.empty
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, info],
                             default=empty if default is MISSING else default)


def _cli_value(f: Field, value: Any) -> Any:
    """A parsed command-line value as the TrainConfig field holds it."""
    if value is None:
        return None
    if f.metadata["path"]:
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if f.name == "augment":
        return _augment(value)
    return value


def train(*, quiet: bool = False, as_json: bool = False, **options: Any) -> None:
    """Train a colourise or raw2rgb model (runs under torchrun as DistributedDataParallel)."""
    from rawcolour.train.loop import train as run_training

    values = {f.name: _cli_value(f, options[f.name]) for f in config_fields()}
    cfg = TrainConfig(**values)
    with library_errors():
        ranks = Ranks.from_env()
    progress = _Progress(quiet, ranks.main)
    try:
        with library_errors():
            end = run_training(cfg, progress=progress)
    except KeyboardInterrupt:
        progress.close()
        err_console.print("rawcolour: interrupted; the run was saved, continue it with --resume", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        progress.close()
    if as_json and ranks.main:
        print_json(end)


def _signature() -> inspect.Signature:
    """The command's parameters: every TrainConfig field (--data asked for first, as the command always
    did), then the two that are about this invocation's terminal only."""
    fields = sorted(config_fields(), key=lambda f: (not f.metadata["argument"], f.name != "data"))
    params = [_parameter(f) for f in fields]
    kw = inspect.Parameter.KEYWORD_ONLY
    params.append(inspect.Parameter("quiet", kw, default=False, annotation=QuietOpt))
    params.append(inspect.Parameter("as_json", kw, default=False, annotation=Annotated[
        bool, typer.Option("--json", help="Print the end record as JSON on stdout.")]))
    return inspect.Signature(params)


train.__signature__ = _signature()  # type: ignore[attr-defined]
train.__annotations__ = {p.name: p.annotation for p in train.__signature__.parameters.values()}
train.__annotations__["return"] = None
app.command(cls=with_examples(Command, EXAMPLES))(train)


__all__ = ["app", "train"]
