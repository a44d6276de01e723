"""The two tasks as objects: every per-task fact the layers need, asked of one TaskSpec.

Kept free of torch (and of the registry, which builds networks) so that the batch planner and the
command line can ask about a task without loading a model.
"""

from __future__ import annotations

from dataclasses import dataclass

from rawcolour.errors import UsageError


@dataclass(frozen=True)
class TaskSpec:
    """What a task is: its name and the facts that differ between colourise and raw2rgb."""

    name: str
    default_model: str  # used when --model is not given
    suffix: str  # added to an output's stem when it is written beside its input
    inputs: str  # "pictures" (ordinary image files) or "raw" (camera RAW and packed RAW PNGs)
    output_bit_depth: int | None  # bits of a PNG/TIFF output when not asked; None: the input's depth
    baselines: tuple[str, ...]  # non-learned registry rows every eval table starts with
    attention_loss: bool  # trains with the saliency-map-aided attention loss (and takes saliency maps)

    def __str__(self) -> str:
        return self.name

    @property
    def reads_raw(self) -> bool:
        """Its models read camera RAW (and can train from photos only as synthetic raw)."""
        return self.inputs == "raw"


COLOURISE = TaskSpec(name="colourise", default_model="colorgan-tiny", suffix="_colour", inputs="pictures",
                     output_bit_depth=None, baselines=("grey", "sepia"), attention_loss=False)
RAW2RGB = TaskSpec(name="raw2rgb", default_model="sgan-isp-tiny", suffix="_rgb", inputs="raw",
                   output_bit_depth=16, baselines=("classic",), attention_loss=True)

TASK_SPECS: dict[str, TaskSpec] = {t.name: t for t in (COLOURISE, RAW2RGB)}
TASKS: tuple[str, ...] = tuple(TASK_SPECS)


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The TaskSpec of a task name (a TaskSpec is returned as it is); UsageError for any other name."""
    if isinstance(task, TaskSpec):
        return task
    spec = TASK_SPECS.get(task)
    if spec is None:
        raise UsageError(f"unknown task {task!r}", hint="use colourise or raw2rgb")
    return spec


def check_model_task(name: str, model_task: str | None, task: str | TaskSpec, *, hint: str,
                     path: object = None) -> None:
    """UsageError unless the model ``name`` (whose file or entry says ``model_task``; None: it does not
    say) can do ``task``; ``hint`` says what to do instead, in the words of the command at hand.
    ``path``: the checkpoint file the model was read from (the message names it)."""
    want = get_task(task).name
    if model_task is not None and model_task != want:
        raise UsageError(f"model {name!r} is a {model_task} model, not a {want} one", hint=hint,
                         path=None if path is None else str(path))


__all__ = ["COLOURISE", "RAW2RGB", "TASKS", "TASK_SPECS", "TaskSpec", "check_model_task", "get_task"]
