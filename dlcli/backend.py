"""Keras-on-JAX set-up: the one place that imports Keras for the first time.

`KERAS_BACKEND` is read once, at Keras' first import, so it is set here before
anything else can import Keras. JAX's persistent compilation cache is on by
default so a second run of the same recipe compiles faster.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "DLCLI_JAX_CACHE"  # a directory, or "off"


def cache_dir() -> Path | None:
    value = os.environ.get(ENV_CACHE, "")
    if value.lower() in ("off", "0", "none"):
        return None
    if value:
        return Path(value).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "dlcli" / "jax"


def setup():
    """Import Keras on the JAX backend, with the compilation cache; returns the keras module."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import jax

    cache = cache_dir()
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(cache))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
        except OSError:
            pass  # a read-only home only costs compile time
    import keras

    return keras


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)
