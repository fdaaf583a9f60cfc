"""env.json: what a run ran on, so results can be compared and reproduced."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import dlcli


def describe(source_dir: Path | None = None) -> dict:
    import jax
    import keras

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "dlcli": dlcli.__version__,
        "keras": keras.__version__,
        "jax": jax.__version__,
        "backend": keras.backend.backend(),
        "devices": [str(d) for d in jax.devices()],
        "git_commit": _git_commit(source_dir or Path.cwd()),
        "argv": sys.argv,
    }


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
