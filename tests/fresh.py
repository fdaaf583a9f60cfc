"""Command lines run in one fresh interpreter, in order, noting after each whether JAX or Keras
has been imported so far: how the error tables check that a config or data mistake is found
without them (the cases that must not need them run first)."""

import json
import subprocess
import sys

PROBE = r"""
import json, sys
from typer.testing import CliRunner
from dlcli.cli import app
results = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, args)
    results.append({"code": result.exit_code, "out": result.output,
                    "heavy": sorted(m for m in ("jax", "keras") if m in sys.modules)})
print(json.dumps(results))
"""


def run_all(*command_lines: list[str], cwd=None, env=None) -> list[dict]:
    """Each command line's exit code, output (stdout and stderr) and heavy imports so far."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(command_lines)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
