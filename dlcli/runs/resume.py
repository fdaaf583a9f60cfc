"""Resuming a run: `dlcli train --resume RUN` ends where the uninterrupted run would have.

Every epoch end, `RunState` saves a snapshot in `state/`: the model's variables
(dropout seed states included) and the optimizer's (step count, moments,
learning rate), the epoch count, whether a callback stopped training, the
state of each stateful callback (EarlyStopping, ModelCheckpoint and
ReduceLROnPlateau's best and wait; dlcli's history rows and best weights;
anything with `get_state`/`set_state`), and the NumPy and Python RNG states
that decide the next epoch's data order. It is Keras' `BackupAndRestore`
(restore at train begin, save at epoch end, `model._initial_epoch` for `fit`)
with a complete snapshot in place of Keras' weights file, which has no RNG or
callback state and can be torn by a kill in mid-write.

A snapshot costs about one memory copy of the variables: the arrays go, raw,
into whichever of two slot files (`slot-0.bin`, `slot-1.bin`) the last one did
not use, overwritten in place; then `state.json`, small and written
atomically, switches to it. `kill -9` at any moment leaves one complete
snapshot, so it loses at most the epoch it interrupts.

`reopen` gives back a run's own config for `--resume`, with the overrides that
keep it the same run (`train.epochs` may grow, callbacks may change).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dlcli import interrupt
from dlcli.errors import ConfigError, Interrupted, Problem
from dlcli.runs import rundir

STATE_DIR = "state"
POINTER = "state.json"
# Keys `--resume` may change; everything else would make it a different run.
CHANGEABLE = ("train.epochs", "train.evaluate_test", "callbacks")


# --- the snapshot ----------------------------------------------------------------------


def write_snapshot(state_dir: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    pointer = state_dir / POINTER
    slot = 1 - json.loads(pointer.read_text())["slot"] if pointer.is_file() else 0
    path = state_dir / f"slot-{slot}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    index, offset = [], 0
    with open(path, "r+b" if path.is_file() else "wb") as f:  # in place: no blocks to free and allocate
        for key, array in arrays.items():
            f.write(np.ascontiguousarray(array).data)  # (which makes 0-d arrays 1-d: keep the shape from `array`)
            index.append([key, array.dtype.str, list(array.shape), offset])
            offset += array.nbytes
        f.truncate(offset)
    rundir.write_text(pointer, json.dumps({**meta, "slot": slot, "arrays": index}))


def read_snapshot(run_dir: Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(metadata, arrays) of a run's last snapshot, or None before its first epoch ended."""
    pointer = Path(run_dir) / STATE_DIR / POINTER
    if not pointer.is_file():
        return None
    try:
        meta = json.loads(pointer.read_text())
        buffer = (pointer.parent / f"slot-{meta['slot']}.bin").read_bytes()
        arrays = {}
        for key, dtype, shape, offset in meta.pop("arrays"):
            dtype = np.dtype(dtype)
            if dtype.hasobject:
                raise ValueError("object arrays")
            arrays[key] = np.frombuffer(buffer, dtype, math.prod(shape), offset).reshape(shape)
    except (ValueError, KeyError, TypeError, OSError) as exc:  # truncated or edited by hand
        raise ConfigError(
            Problem(
                "RUN",
                f"the saved state in {pointer.parent} is damaged ({type(exc).__name__}: {exc})",
                "it cannot be resumed; start a new run (checkpoints/ keep the weights of a run that finished)",
            )
        ) from exc
    return meta, arrays


def _pack(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for the snapshot's metadata, arrays set aside (EarlyStopping's best weights)."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"$array": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _pack(v, f"{key}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    return value


def _unpack(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        return (
            arrays[value["$array"]] if set(value) == {"$array"} else {k: _unpack(v, arrays) for k, v in value.items()}
        )
    if isinstance(value, list):
        return [_unpack(v, arrays) for v in value]
    return value


# --- callbacks' own state ----------------------------------------------------------------


def _keras_state() -> dict[type, tuple[str, ...]]:
    import keras

    return {
        keras.callbacks.EarlyStopping: ("wait", "stopped_epoch", "best", "best_weights", "best_epoch"),
        keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
        keras.callbacks.ModelCheckpoint: ("best",),
    }


def callback_state(callback) -> dict | None:
    if hasattr(callback, "get_state"):
        return callback.get_state()
    for cls, attributes in _keras_state().items():
        if isinstance(callback, cls):
            return {a: getattr(callback, a, None) for a in attributes}
    return None


def set_callback_state(callback, state: dict) -> None:
    if hasattr(callback, "set_state"):
        callback.set_state(state)
    else:
        for attribute, value in state.items():
            setattr(callback, attribute, value)


def _continue_files(callback, epoch: int) -> None:
    """Before `fit`: callbacks that write files continue them rather than start them over."""
    import keras

    if hasattr(callback, "resumed"):
        callback.resumed(epoch)
    elif isinstance(callback, keras.callbacks.CSVLogger):
        callback.append = True
        _truncate_csv(Path(callback.filename), epoch, callback.sep)


def _truncate_csv(path: Path, epoch: int, sep: str) -> None:
    """Keep CSVLogger's rows of the epochs the snapshot holds (its `epoch` column counts from 0)."""
    if not path.is_file():
        return
    rows = list(csv.reader(io.StringIO(path.read_text()), delimiter=sep))
    kept = rows[:1] + [r for r in rows[1:] if r and int(r[0]) < epoch]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep).writerows(kept)
    rundir.write_text(path, buffer.getvalue())


# --- the callback ----------------------------------------------------------------------


def _run_state_class():
    import keras

    class RunState(keras.callbacks.BackupAndRestore):
        """Saves the run's whole state each epoch and restores it when a run is resumed.

        It must come after every callback whose state it saves: its
        `on_train_begin` restores them after they reset themselves, and its
        `on_epoch_end` saves them after they have seen the epoch.
        """

        # Its batch hook does nothing at save_freq="epoch": Keras need not wait for each step.
        async_safe = True

        def __init__(self, run_dir: Path, tracked: dict[str, Any]):
            super().__init__(backup_dir=str(Path(run_dir) / STATE_DIR), save_freq="epoch", delete_checkpoint=False)
            self.tracked = tracked
            self.saved = read_snapshot(run_dir)
            self.epochs_done = self.saved[0]["epoch"] if self.saved else 0
            if self.saved:
                for callback in tracked.values():
                    _continue_files(callback, self.epochs_done)

        def _load_model(self):
            if self.saved is None:
                return
            meta, arrays = self.saved
            variables = _variables(self.model)
            shapes = [tuple(v.shape) for v in variables]
            saved_shapes = [tuple(arrays[f"var/{i}"].shape) for i in range(meta["variables"])]
            if shapes != saved_shapes:
                raise ConfigError(
                    Problem(
                        "RUN",
                        f"the saved state in {self.backup_dir} does not fit this model ({len(saved_shapes)} variables saved, {len(shapes)} in the model)",
                        "resume with the run's own config, or start a new run",
                    )
                )
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"var/{i}"])
            for name, callback in self.tracked.items():
                saved = meta["callbacks"].get(name)
                if saved is not None and saved["class"] == type(callback).__name__:
                    set_callback_state(callback, _unpack(saved["state"], arrays))
            numpy_rng = meta["rng"]["numpy"]
            np.random.set_state((numpy_rng[0], arrays["rng/numpy"], *numpy_rng[1:]))
            version, internal, gauss = meta["rng"]["python"]
            random.setstate((version, tuple(internal), gauss))
            # What BackupAndRestore tells fit. A run stopped by a callback (and killed before
            # it saved its model) trains no further: fit only finishes it.
            stopper = any(isinstance(c, keras.callbacks.EarlyStopping) for c in self.tracked.values())
            self.model._initial_epoch = self.params["epochs"] if meta["stopped"] and stopper else self.epochs_done

        def on_epoch_begin(self, epoch, logs=None):
            interrupt.check()  # a Ctrl-C swallowed while starting up stops the run here
            super().on_epoch_begin(epoch, logs)

        def _save_model(self):
            self.epochs_done = self._current_epoch
            arrays: dict[str, np.ndarray] = {}
            variables = _variables(self.model)
            for i, variable in enumerate(variables):
                arrays[f"var/{i}"] = np.asarray(variable.numpy())
            kind, keys, *rest = np.random.get_state()
            arrays["rng/numpy"] = keys
            version, internal, gauss = random.getstate()
            meta = {
                "epoch": self.epochs_done,
                "stopped": bool(self.model.stop_training),
                "variables": len(variables),
                "paths": [v.path for v in variables],
                "rng": {"numpy": [kind, *rest], "python": [version, list(internal), gauss]},
                "callbacks": {},
            }
            for name, callback in self.tracked.items():
                state = callback_state(callback)
                if state is not None:
                    meta["callbacks"][name] = {
                        "class": type(callback).__name__,
                        "state": _pack(state, f"cb/{name}", arrays),
                    }
            write_snapshot(Path(self.backup_dir), meta, arrays)

    return RunState


def run_state(run_dir: Path, tracked: dict[str, Any]):
    """The RunState callback (defined lazily: this module must import without Keras)."""
    return _run_state_class()(run_dir, tracked)


def _variables(model) -> list:
    return [*model.trainable_variables, *model.non_trainable_variables, *model.optimizer.variables]


# --- resuming from the command line ------------------------------------------------------


def reopen(run: str, overrides: list[str], root: str | Path):
    """The run's own config with `overrides` applied, checked to keep it the same run; returns (Prepared, run_dir)."""
    from dlcli.config import Composed, Recipe, validate
    from dlcli.config.schema import Config
    from dlcli.runner import Prepared

    if any(o.startswith("recipe=") for o in overrides):
        raise ConfigError(
            Problem(
                "recipe",
                "--resume continues the run with its own recipe and config",
                "drop recipe=; overrides may change train.epochs and callbacks",
            )
        )
    run_dir = rundir.find(run, root)
    saved = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(run_dir / "config.yaml"))
    cfg = saved.copy()
    apply(cfg, overrides)
    _refuse_changes(OmegaConf.to_container(saved, resolve=True), OmegaConf.to_container(cfg, resolve=True))
    _check_progress(run_dir, cfg, saved)
    graph = validate(cfg)
    first = OmegaConf.load(run_dir / "overrides.yaml")
    recipe = Recipe(str(cfg.run.name), Path(str(first.recipe)), str(cfg.description))
    return Prepared(Composed(cfg, recipe, list(overrides)), graph), run_dir


def apply(cfg: DictConfig, overrides: list[str]) -> None:
    """Hydra's override grammar (key=value, +key=value, ~key) on a saved config."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException
    from omegaconf.errors import OmegaConfBaseException

    from dlcli.config.compose import OVERRIDE_HINT, unknown_key
    from dlcli.foreign import first_line

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as exc:
        raise ConfigError(Problem("overrides", first_line(exc), OVERRIDE_HINT, code="foreign")) from exc
    for override in parsed:
        key = override.key_or_group
        exists = OmegaConf.select(cfg, key, default=_ABSENT) is not _ABSENT
        try:
            if override.is_delete():
                parent, _, leaf = key.rpartition(".")
                node = OmegaConf.select(cfg, parent) if parent else cfg
                if not exists:
                    raise ConfigError(unknown_key(key, "cannot delete a key the run's config does not have", cfg))
                del node[leaf]
            elif override.is_sweep_override():
                raise ConfigError(Problem(key, "a resumed run takes one value, not a sweep"))
            elif not exists and not override.is_add():
                raise ConfigError(unknown_key(key, "the run's config has no such key", cfg))
            elif key == "callbacks" and isinstance(
                override.value(), (str, list)
            ):  # callbacks=early_stopping, as for train
                cfg.callbacks = _callback_options(override.value())
            else:
                OmegaConf.update(cfg, key, override.value(), merge=False, force_add=override.is_add())
        except OmegaConfBaseException as exc:
            raise ConfigError(Problem(key, first_line(exc), code="foreign")) from exc


_ABSENT = object()


def _callback_options(chosen: str | list) -> DictConfig:
    """What `callbacks=[a, b]` picks from the shipped callbacks group (a saved run has no Hydra defaults to pick from)."""
    from dlcli import paths
    from dlcli.errors import did_you_mean

    group = paths.conf_dir() / "callbacks"
    options = sorted(p.stem for p in group.glob("*.yaml"))
    merged = OmegaConf.create({})
    for name in [chosen] if isinstance(chosen, str) else chosen:
        if name not in options:
            raise ConfigError(
                Problem(
                    "callbacks",
                    f"no callbacks option {name!r}",
                    did_you_mean(str(name), options) or "options: " + ", ".join(options),
                )
            )
        merged = OmegaConf.merge(merged, OmegaConf.load(group / f"{name}.yaml"))
    return merged


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat = {}
        for k, v in value.items():
            flat.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return flat
    return {prefix: value}


def _changeable(key: str) -> bool:
    return any(key == c or key.startswith(c + ".") for c in CHANGEABLE)


def _refuse_changes(before: dict, after: dict) -> None:
    old, new = _flatten(before), _flatten(after)
    changed = sorted(
        k for k in old.keys() | new.keys() if old.get(k, _ABSENT) != new.get(k, _ABSENT) and not _changeable(k)
    )
    if not changed:
        return
    problems = [
        Problem(
            k,
            f"--resume cannot change this: the run has {old.get(k, '(nothing)')!r}, the override gives {new.get(k, '(nothing)')!r}",
        )
        for k in changed
    ]
    problems[
        -1
    ].hint = f"a resumed run keeps its model, data and optimizer; only {', '.join(c + ('.*' if c == 'callbacks' else '') for c in CHANGEABLE)} may change. Start a new run for the rest"
    raise ConfigError(problems)


def _check_progress(run_dir: Path, cfg: DictConfig, saved: DictConfig) -> None:
    """Refuse a resume that has nothing to do: the run finished and train.epochs did not grow."""
    if (run_dir / "fold-1").is_dir():  # a K-fold parent: its folds are averaged, so they must train alike
        if cfg.train.epochs != saved.train.epochs:
            raise ConfigError(
                Problem(
                    "train.epochs",
                    f"the folds of a K-fold run train alike: {run_dir} resumes with its own train.epochs={saved.train.epochs}",
                    "drop the override; to train longer, start a new K-fold run",
                )
            )
        if rundir.is_finished(run_dir):
            raise ConfigError(
                Problem(
                    "RUN",
                    f"{run_dir} finished: all {saved.train.kfold} folds trained",
                    "start a new run to train differently",
                )
            )
        return
    snapshot = read_snapshot(run_dir)
    if snapshot is None:
        return
    meta = snapshot[0]
    done, finished = meta["epoch"], rundir.is_finished(run_dir)
    stoppers = [n for n, c in (cfg.callbacks or {}).items() if c is not None and str(c.get("class")) == "EarlyStopping"]
    if meta["stopped"] and finished and stoppers:
        raise ConfigError(
            Problem(
                "RUN",
                f"{run_dir} finished: {stoppers[0]} stopped it after epoch {done}",
                f"it would stop it again: to train on, remove it (~callbacks.{stoppers[0]}) and raise train.epochs; or start a new run",
            )
        )
    if cfg.train.epochs < done or (finished and cfg.train.epochs == done):
        raise ConfigError(
            Problem(
                "train.epochs",
                f"{run_dir} has trained {done} epochs; train.epochs={cfg.train.epochs} leaves nothing to do",
                f"to train longer, pass train.epochs=N with N > {done}",
            )
        )


def record(run_dir: Path, cfg: DictConfig, overrides: list[str], epoch: int) -> None:
    """Write the config the run continues with, and note the resume in overrides.yaml."""
    rundir.write_text(run_dir / "config.yaml", rundir.config_yaml(cfg))
    history = OmegaConf.load(run_dir / "overrides.yaml")
    resumes = list(history.get("resumed") or [])
    resumes.append({"after_epoch": epoch, "overrides": list(overrides)})
    history.resumed = resumes
    rundir.write_text(run_dir / "overrides.yaml", OmegaConf.to_yaml(history))


def interrupted(run_dir: Path, epochs_done: int) -> Interrupted:
    saved = {0: "no epoch had finished; resuming starts over", 1: "epoch 1 is saved"}.get(
        epochs_done, f"epochs 1-{epochs_done} are saved"
    )
    return Interrupted(
        Problem("", f"interrupted: {saved} in {run_dir}", f"resume with: dlcli train --resume {run_dir}")
    )
