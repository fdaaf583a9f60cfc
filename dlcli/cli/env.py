"""dlcli env [recipe=NAME overrides...] [--json]"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from dlcli.cli._common import ConfigDirs, Overrides, dirs, out, user_errors

NAME = "env"
HELP = "What runs would run on: backend, devices, Keras and JAX versions, the compile cache, the distribution settings."


def command(
    overrides: Overrides = None,
    config_dir: ConfigDirs = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the same as JSON, for scripts")] = False,
) -> None:
    with user_errors():
        from omegaconf import OmegaConf

        from dlcli import backend, lifecycle
        from dlcli.config import schema, split_recipe

        recipe, rest = split_recipe(list(overrides or []))
        if recipe is None and not rest:  # the machine alone, with the defaults' settings
            cfg = OmegaConf.structured(schema.Config)
        else:  # what this run would use; a bad setting is exit 2, as for train
            prepared = lifecycle.prepare(recipe, rest, dirs(config_dir))
            lifecycle.preflight(prepared)  # the devices it needs, its batch size, its callbacks
            cfg = prepared.cfg
        keras = backend.setup()
        import jax

        cache = backend.cache_dir()
        found = {
            "backend": keras.backend.backend(),
            "devices": backend.describe_devices(),
            "keras": keras.__version__,
            "jax": jax.__version__,
            "compile_cache": {"dir": str(cache) if cache else None, "bytes": backend.cache_size(cache)},
            "precision": str(cfg.train.precision),
            "distribution": _settings(OmegaConf.to_container(cfg.distribution)),
        }
        if as_json:
            typer.echo(json.dumps(found, indent=2))
            return
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("backend", found["backend"])
        for d in found["devices"]:
            memory = f", {d['memory_bytes'] / 2**30:.1f} GiB each" if d["memory_bytes"] else ""
            table.add_row("devices", f"{d['count']} × {d['platform']} ({d['kind']}){memory}")
        table.add_row("keras", found["keras"])
        table.add_row("jax", found["jax"])
        size = found["compile_cache"]["bytes"]
        table.add_row(
            "compile cache", f"{cache} ({size / 2**20:.1f} MiB)" if cache else f"off ({backend.ENV_CACHE}=off)"
        )
        table.add_row("precision", found["precision"])
        table.add_row("distribution", ", ".join(f"{k}={v}" for k, v in found["distribution"].items()))
        out.print(table, markup=False, highlight=False)


def _settings(dist: dict) -> dict:
    """The distribution keys that take effect with its strategy, and the several-processes ones when set."""
    keys = {"data_parallel": ("devices",), "model_parallel": ("mesh", "batch_axis", "layout")}.get(dist["strategy"], ())
    shown = {"strategy": dist["strategy"], **{k: dist[k] for k in keys}}
    if "devices" in shown and shown["devices"] is None:
        shown["devices"] = "all"
    return shown | {k: dist[k] for k in ("coordinator", "num_processes", "process_id") if dist[k] is not None}
