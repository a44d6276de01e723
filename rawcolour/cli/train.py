"""`rawcolour train colourise|raw2rgb`: train a registry model (options parse here; the loop is rawcolour.train)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

try:  # typer up to 0.19 uses click; later versions vendor it as typer._click
    from click import Context
    from click.exceptions import UsageError as ClickUsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from typer._click import Context  # type: ignore[no-redef]
    from typer._click.exceptions import UsageError as ClickUsageError  # type: ignore[no-redef]

from rawcolour.distributed import Ranks
from rawcolour.cli.common import Layout, EXIT_INTERRUPTED, EXIT_USAGE, err_console, error_line, library_errors, print_json

app = typer.Typer()


class _OneLineErrors(TyperCommand):
    """Bad options print one line on stderr and exit 2 (no usage panel)."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except ClickUsageError as err:
            if type(err).__name__ == "NoArgsIsHelpError":
                raise
            err_console.print(error_line(err.format_message().replace("\n", " ").rstrip(".")) + "; see `rawcolour train --help`",
                              markup=False)
            raise typer.Exit(EXIT_USAGE) from None


class Task(str, Enum):
    colourise = "colourise"
    raw2rgb = "raw2rgb"


class SyntheticGains(str, Enum):
    """White-balance gain ranges of synthetic cameras (rawcolour.data.unprocess.WB_GAIN_RANGES)."""

    brooks = "brooks"
    wide = "wide"


class GanLoss(str, Enum):
    vanilla = "vanilla"
    nonsaturating = "nonsaturating"
    lsgan = "lsgan"


_R = "Recipe overrides (default: the model's registry recipe)"
_D = "Data"
_E = "Run length and output"


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


@app.command(cls=_OneLineErrors, no_args_is_help=True)
def train(
    task: Annotated[Task, typer.Argument(help="colourise or raw2rgb.")],
    data: Annotated[Path, typer.Option("--data", help="Training folder: colour photos (colourise, --synthetic-raw) "
                                       "or paired RAW data (Zurich or RAW2RGB-GAN layout).", rich_help_panel=_D)],
    model: Annotated[str, typer.Option("--model", help="Registry name (see `rawcolour models list`).")],
    val: Annotated[Path | None, typer.Option("--val", help="Validation folder (same kind as --data); default: a "
                                             "held-out split of --data.", rich_help_panel=_D)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/MODEL).",
                                             rich_help_panel=_E)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out exactly where it stopped "
                                         "(its saved options are used).", rich_help_panel=_E)] = False,
    synthetic_raw: Annotated[bool, typer.Option("--synthetic-raw", help="raw2rgb from ordinary colour photos: "
                                                "unprocess each crop with a random camera.", rich_help_panel=_D)] = False,
    synthetic_gains: Annotated[SyntheticGains, typer.Option(
        "--synthetic-gains", help="White-balance gains of the synthetic cameras: brooks (Brooks et al., modern "
                                  "sensors) or wide (also nearly balanced and blue-starved sensors).",
        rich_help_panel=_D)] = SyntheticGains.brooks,
    layout: Annotated[Layout, typer.Option("--layout", help="Paired RAW folder layout.", rich_help_panel=_D)] = Layout.auto,
    saliency: Annotated[Path | None, typer.Option("--saliency", help="Folder of precomputed saliency maps named like "
                                                  "the targets (default: computed and cached).", rich_help_panel=_D)] = None,
    saliency_cache: Annotated[Path | None, typer.Option("--saliency-cache", help="Cache folder of computed saliency "
                                                        "maps (default RUN/saliency_cache).", rich_help_panel=_D)] = None,
    max_samples: Annotated[int | None, typer.Option("--max-samples", help="Use only the first N training items.",
                                                    rich_help_panel=_D)] = None,
    val_split: Annotated[float, typer.Option("--val-split", help="Fraction held out for validation without --val.",
                                             rich_help_panel=_D)] = 0.05,
    val_max: Annotated[int, typer.Option("--val-max", help="At most this many validation samples.",
                                         rich_help_panel=_D)] = 64,
    cfa: Annotated[str, typer.Option("--cfa", help="Bayer pattern of Zurich mosaics.", rich_help_panel=_D)] = "RGGB",
    black: Annotated[float, typer.Option("--black", help="Black level of Zurich mosaics.", rich_help_panel=_D)] = 0.0,
    white: Annotated[float, typer.Option("--white", help="White level of Zurich mosaics.", rich_help_panel=_D)] = 1020.0,
    vgg_weights: Annotated[Path | None, typer.Option("--vgg-weights", help="torchvision VGG16 ImageNet weights "
                                                     "(.pth/.safetensors) for the perceptual loss.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Start from this checkpoint's weights (e.g. stage 1 "
                                              "for --stage 2).")] = None,
    stage: Annotated[str, typer.Option("--stage", help="Recipe stage to run: 1, 2 (raw2rgb), main, or all.")] = "all",
    epochs: Annotated[int | None, typer.Option("--epochs", help="Epochs of each selected stage.", rich_help_panel=_R)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Per process.", rich_help_panel=_R)] = None,
    crop_size: Annotated[int | None, typer.Option("--crop-size", help="Network-input pixels (raw2rgb: packed; the "
                                                  "photo crop is twice this).", rich_help_panel=_R)] = None,
    gan_loss: Annotated[GanLoss | None, typer.Option("--gan-loss", rich_help_panel=_R)] = None,
    lr_g: Annotated[float | None, typer.Option("--lr-g", rich_help_panel=_R)] = None,
    lr_d: Annotated[float | None, typer.Option("--lr-d", rich_help_panel=_R)] = None,
    beta1: Annotated[float | None, typer.Option("--beta1", rich_help_panel=_R)] = None,
    beta2: Annotated[float | None, typer.Option("--beta2", rich_help_panel=_R)] = None,
    lambda_l1: Annotated[float | None, typer.Option("--lambda-l1", rich_help_panel=_R)] = None,
    lambda_gan: Annotated[float | None, typer.Option("--lambda-gan", rich_help_panel=_R)] = None,
    lambda_attention: Annotated[float | None, typer.Option("--lambda-attention", rich_help_panel=_R)] = None,
    lambda_perc: Annotated[float | None, typer.Option("--lambda-perc", help="VGG16 conv4_3 perceptual weight; 0 "
                                                      "trains without --vgg-weights.", rich_help_panel=_R)] = None,
    lambda_saliency: Annotated[float, typer.Option("--lambda-saliency", help="Direct L1 of the saliency decoder "
                                                   "to its target (0: as the reference code).", rich_help_panel=_R)] = 0.0,
    lr_halve_every: Annotated[int | None, typer.Option("--lr-halve-every", help="Epochs; 0 = constant.",
                                                       rich_help_panel=_R)] = None,
    lr_decay_epochs: Annotated[int | None, typer.Option("--lr-decay-epochs", help="Linear decay to 0 over the last "
                                                        "N epochs of a stage.", rich_help_panel=_R)] = None,
    augment: Annotated[str | None, typer.Option("--augment", help="Comma list of flip, rot90, crop, resize286, "
                                                "or none.", rich_help_panel=_R)] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="Stop after N optimiser steps in total.",
                                                  rich_help_panel=_E)] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop (and save) after M minutes.",
                                                      rich_help_panel=_E)] = None,
    save_every: Annotated[int, typer.Option("--save-every", help="Steps between checkpoints.",
                                            rich_help_panel=_E)] = 1000,
    val_every: Annotated[int | None, typer.Option("--val-every", help="Steps between validations (default: every "
                                                  "epoch).", rich_help_panel=_E)] = None,
    sample_every: Annotated[int | None, typer.Option("--sample-every", help="Steps between sample grids (default: "
                                                     "every epoch).", rich_help_panel=_E)] = None,
    log_every: Annotated[int, typer.Option("--log-every", help="Steps between loss records.", rich_help_panel=_E)] = 1,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    amp: Annotated[bool, typer.Option("--amp/--no-amp", help="Mixed precision on CUDA.")] = True,
    num_workers: Annotated[int | None, typer.Option("--num-workers", help="DataLoader workers (default 0 on CPU, "
                                                    "4 on CUDA; spawned, not forked).")] = None,
    cache_photos: Annotated[bool, typer.Option("--cache-photos/--no-cache-photos", help="Keep decoded photos in "
                                               "memory (up to 1 GiB).")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the end record as JSON on stdout.")] = False,
) -> None:
    """Train a colourise or raw2rgb model (runs under torchrun as DistributedDataParallel)."""
    from rawcolour.train.config import TrainConfig
    from rawcolour.train.loop import train as run_training

    cfg = TrainConfig(
        task=task.value, model=model, data=str(data), out=str(out or Path("runs") / model),
        val=str(val) if val else None, val_split=val_split, val_max=val_max, max_samples=max_samples,
        synthetic_raw=synthetic_raw, synthetic_gains=synthetic_gains.value, layout=layout.value, cfa=cfa, black=black, white=white,
        saliency=str(saliency) if saliency else None, saliency_cache=str(saliency_cache) if saliency_cache else None,
        vgg_weights=str(vgg_weights) if vgg_weights else None, init=str(init) if init else None, stage=stage,
        epochs=epochs, batch_size=batch_size, crop_size=crop_size, gan_loss=gan_loss.value if gan_loss else None,
        lr_g=lr_g, lr_d=lr_d, beta1=beta1, beta2=beta2, lambda_l1=lambda_l1, lambda_gan=lambda_gan,
        lambda_attention=lambda_attention, lambda_perc=lambda_perc, lambda_saliency=lambda_saliency,
        lr_halve_every=lr_halve_every, lr_decay_epochs=lr_decay_epochs, augment=_augment(augment),
        max_steps=max_steps, max_minutes=max_minutes, save_every=save_every, val_every=val_every,
        sample_every=sample_every, log_every=log_every, seed=seed, device=device, amp=amp,
        num_workers=num_workers, cache_photos=cache_photos, resume=resume,
    )
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


__all__ = ["app", "train"]
