"""One config, one run: the driver behind `dlcli train recipe=NAME`."""

from __future__ import annotations

from pathlib import Path

from dlcli import lifecycle


def run(
    prepared: lifecycle.Prepared,
    observer: lifecycle.Observer | None = None,
    run_dir: Path | None = None,
    resume: bool = False,
) -> lifecycle.Result:
    if prepared.data is None:
        lifecycle.read_data(prepared)  # data mistakes surface before Keras is imported
    return lifecycle.run(lifecycle.build(prepared), observer, run_dir=run_dir, resume=resume)
