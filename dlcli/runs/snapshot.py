"""The resume snapshot format: a run's whole state, one complete copy always on disk.

The arrays go, raw, into whichever of two slot files (`slot-0.bin`,
`slot-1.bin`) the last snapshot did not use, overwritten in place; then
`state.json`, small and written atomically, switches to it. `kill -9` at any
moment leaves one complete snapshot, so a run loses at most the epoch it
interrupts. What goes in a snapshot is the RunState callback's business
(dlcli/callbacks/run_state.py); this module only stores and reads it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir

STATE_DIR = "state"
POINTER = "state.json"


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


def pack(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for the snapshot's metadata, arrays set aside (EarlyStopping's best weights)."""
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"$array": key}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): pack(v, f"{key}/{k}", arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pack(v, f"{key}/{i}", arrays) for i, v in enumerate(value)]
    return value


def unpack(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        return arrays[value["$array"]] if set(value) == {"$array"} else {k: unpack(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack(v, arrays) for v in value]
    return value
