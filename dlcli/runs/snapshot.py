"""The resume snapshot format: a run's whole state, one complete copy always on disk.

The arrays go, raw, into whichever of two slot files (`slot-0.bin`,
`slot-1.bin`) the last snapshot did not use, overwritten in place; then
`state.json`, small and written atomically, switches to it. It keeps each
slot's index and CRC-32, so a slot damaged on disk is detected and the other
one, an epoch older, is used. `kill -9` at any
moment leaves one complete snapshot, so a run loses at most the epoch it
interrupts. What goes in a snapshot is the RunState callback's business
(dlcli/callbacks/run_state.py); this module only stores and reads it.

`Writer` writes snapshots on a thread of their own, one at a time, so the
next epoch trains while the last one's state goes to disk.
"""

from __future__ import annotations

import json
import math
import threading
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from dlcli.errors import ConfigError, Problem
from dlcli.runs import rundir

STATE_DIR = "state"
POINTER = "state.json"


def write_snapshot(state_dir: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    slots = _slots(state_dir / POINTER)
    current = slots.pop("current", None)
    slot = 1 - current if current is not None else 0
    path = state_dir / f"slot-{slot}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    index, offset, crc = [], 0, 0
    with open(path, "r+b" if path.is_file() else "wb") as f:  # in place: no blocks to free and allocate
        for key, array in arrays.items():
            data = np.ascontiguousarray(array).data  # (which makes 0-d arrays 1-d: keep the shape from `array`)
            f.write(data)
            crc = zlib.crc32(data, crc)
            index.append([key, array.dtype.str, list(array.shape), offset])
            offset += array.nbytes
        f.truncate(offset)
    slots[str(slot)] = {**meta, "arrays": index, "crc32": crc}
    rundir.write_text(state_dir / POINTER, json.dumps({"slot": slot, "slots": slots}))


class Writer:
    """`write_snapshot` in the background. Each write waits for the one before (both switch
    state.json), and `wait` (before reading what is saved, at the end of training) re-raises
    what a write failed with, a full disk say."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def write(self, state_dir: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        """`meta` and `arrays` must be the snapshot's own (`pack` copies): training goes on meanwhile."""
        self.wait()

        def run() -> None:
            try:
                write_snapshot(state_dir, meta, arrays)
            except BaseException as exc:  # handed to the training thread by wait()
                self._error = exc

        self._thread = threading.Thread(target=run, name="dlcli-snapshot")
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def _slots(pointer: Path) -> dict:
    """The pointer's entry for each slot, and which is current (a pointer too damaged to read: none)."""
    try:
        saved = json.loads(pointer.read_text())
        if "slots" not in saved:  # a run saved before slots had checksums: one entry, unchecked
            return {"current": saved["slot"], str(saved["slot"]): saved}
        return {"current": saved["slot"], **saved["slots"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def read_snapshot(run_dir: Path) -> tuple[dict, dict[str, np.ndarray]] | None:
    """(metadata, arrays) of a run's last snapshot, or None before its first epoch ended.

    A slot whose bytes do not match their checksum (a bit flipped on disk, a torn
    write) is passed over for the other, one epoch older.
    """
    pointer = Path(run_dir) / STATE_DIR / POINTER
    if not pointer.is_file():
        return None
    slots = _slots(pointer)
    current = slots.pop("current", None)
    order = [str(current), str(1 - current)] if current is not None else []
    reasons = []
    for slot in [s for s in order if s in slots]:
        try:
            return {**_meta(slots[slot]), "slot": int(slot)}, _arrays(pointer.parent / f"slot-{slot}.bin", slots[slot])
        except (ValueError, KeyError, TypeError, OSError) as exc:  # truncated, flipped or edited by hand
            reasons.append(f"slot-{slot}.bin: {type(exc).__name__}: {exc}")
    raise ConfigError(
        Problem(
            "RUN",
            f"the saved state in {pointer.parent} is damaged ({'; '.join(reasons) or 'state.json cannot be read'})",
            "it cannot be resumed; start a new run (checkpoints/ keep the weights of a run that finished)",
        )
    )


def _meta(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("arrays", "crc32", "slot", "slots")}


def _arrays(path: Path, entry: dict) -> dict[str, np.ndarray]:
    buffer = path.read_bytes()
    if "crc32" in entry and zlib.crc32(buffer) != entry["crc32"]:
        raise ValueError("its checksum does not match")
    arrays = {}
    for key, dtype, shape, offset in entry["arrays"]:
        dtype = np.dtype(dtype)
        if dtype.hasobject:
            raise ValueError("object arrays")
        arrays[key] = np.frombuffer(buffer, dtype, math.prod(shape), offset).reshape(shape)
    return arrays


def pack(value: Any, key: str, arrays: dict[str, np.ndarray]) -> Any:
    """JSON for the snapshot's metadata, arrays set aside (EarlyStopping's best weights).

    Containers are new and arrays copied, so the callback may change its own while the snapshot is written."""
    if isinstance(value, np.ndarray):
        arrays[key] = np.array(value)
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
