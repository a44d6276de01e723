"""Batch conversion, torch-free until a model is needed: collect.py (inputs), plan.py (output
names), provenance.py (is an existing output this run's?), pipeline.py (stages overlapped),
model_step.py (one file through its model), records.py (what is reported), run.py (``run_batch``,
the whole batch)."""

from rawcolour.batch.collect import Collection, Source, accepted_extensions, collect_inputs, describe_inputs, read_path_list
from rawcolour.batch.plan import (
    Job,
    OutputPlan,
    default_bit_depth,
    output_kind,
    plan_jobs,
)
from rawcolour.batch.run import (
    ON_EXIST,
    BatchEvents,
    BatchRunner,
    LoadSettings,
    ModelConverter,
    PassedOver,
    Result,
    Summary,
    error_text,
    run_batch,
    write_output,
)

__all__ = [
    "ON_EXIST", "BatchEvents", "BatchRunner", "Collection",
    "Job", "LoadSettings", "ModelConverter", "OutputPlan", "PassedOver", "Result", "Source", "Summary", "accepted_extensions",
    "collect_inputs", "default_bit_depth", "describe_inputs", "error_text", "output_kind", "plan_jobs",
    "read_path_list", "run_batch", "write_output",
]
