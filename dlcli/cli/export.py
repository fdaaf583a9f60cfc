"""dlcli export RUN --format keras|onnx [--output PATH]"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dlcli.cli._common import Run, RunsRoot, TrustCode, out, refuse_to_replace, user_errors

NAME = "export"
HELP = "Write a run's model in a format and check that the exported model predicts what the Keras model predicts."

FORMATS = ("keras", "onnx")


def command(
    run: Run,
    format: Annotated[str, typer.Option("--format", "-f", help="keras or onnx")] = "keras",
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--output",
            "-o",
            help="file to write, ending .keras or .onnx as the format (default RUN/export/model.<ext>)",
        ),
    ] = None,
    tolerance: Annotated[float, typer.Option(help="largest allowed absolute difference between predictions")] = 1e-5,
    force: Annotated[bool, typer.Option(help="replace --output if it exists")] = False,
    runs_dir: RunsRoot = Path("outputs"),
    trust_code: TrustCode = False,
) -> None:
    from dlcli import export as exporting
    from dlcli.errors import ConfigError, Problem, did_you_mean
    from dlcli.runs import find, rundir
    from dlcli.runs.load import open_run

    with user_errors():
        if format not in FORMATS:
            raise ConfigError(
                Problem(
                    "--format",
                    f"unknown format {format!r}",
                    did_you_mean(format, FORMATS) or "valid: " + ", ".join(FORMATS),
                )
            )
        ext = exporting.EXTENSIONS[format]
        target = refuse_to_replace(output, force)  # (a directory, '' included, first: it has no suffix to swap)
        if output is not None and output.suffix != ext:
            raise ConfigError(
                Problem(
                    "--output",
                    f"--format {format} writes a {ext} file, not {output.name!r}",
                    f"--output {output.with_suffix(ext)}",
                )
            )
        if not tolerance >= 0:  # NaN too: every comparison with it passes
            raise ConfigError(
                Problem("--tolerance", f"must be a number >= 0, not {tolerance:g}", "--tolerance 1e-5 (the default)")
            )
        opened = open_run(find(run, runs_dir, finished=True), trust_code=trust_code)
        target = target or rundir.inside(opened.path, "export") / f"model{ext}"
        sample = exporting.sample_inputs(opened)
        worst, beside = exporting.export(format, opened.model, target, sample, tolerance, trust_code)
        steps = _preprocessing(opened.preprocess)
        if steps:
            out.print(
                f"note: the exported model takes inputs after, and gives outputs before, the run's {steps} "
                f"({opened.path / 'preprocess.json'}); dlcli predict applies them",
                highlight=False,
                soft_wrap=True,
            )
        logits = [o.name for o in opened.io.outputs if isinstance(o.loss, dict) and o.loss.get("from_logits")]
        if logits:
            out.print(
                f"note: output{'s' * (len(logits) > 1)} {', '.join(map(repr, logits))}"
                f" give{'s' * (len(logits) == 1)} logits (from_logits: true): their sigmoid (softmax over"
                " several units) is the probability dlcli predict writes",
                highlight=False,
                soft_wrap=True,
            )
        if format == "onnx" and opened.cfg.train.precision != "float32":
            drift = exporting.difference(
                exporting.predict_keras(opened.model, sample),
                exporting.predict_keras(exporting.in_float32(opened.model), sample),
            )
            out.print(
                f"note: trained with {opened.cfg.train.precision}; the ONNX model computes in float32 (its weights are "
                f"float32): its predictions differ from the run's model by up to {drift:.3g}, and the parity below "
                "is against the model computing in float32",
                highlight=False,
                soft_wrap=True,
            )
        if beside is not None:
            out.print(
                f"the model is over protobuf's 2 GB limit: its weights are in {beside}; copy both files together",
                highlight=False,
                soft_wrap=True,
            )
        out.print(
            f"wrote {target}\nparity: max |keras - {format}| = {worst:.3g} on {len(next(iter(sample.values())))} samples (tolerance {tolerance:g})",
            highlight=False,
            soft_wrap=True,
        )


def _preprocessing(saved: dict) -> str:
    """In words, what dlcli does around the model that an exported file does not: '' when nothing."""
    config, state = saved.get("config") or {}, saved.get("state") or {}
    steps = [f"data.preprocess.{k}" for k in ("reshape", "divide_by", "maxlen") if config.get(k)]
    steps += ["feature scaling"] * bool(state.get("x")) + ["target scaling"] * bool(state.get("y"))
    steps += ["class names"] * bool(state.get("classes")) + ["positive label"] * (config.get("positive") is not None)
    return ", ".join(steps)
