"""Writing a model in another format and predicting with the written copy."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from dlcli.errors import ConfigError, Problem, RunFailed
from dlcli.runs.rundir import atomic_write


def sample_inputs(run, n: int = 32) -> dict[str, np.ndarray]:
    """Real test inputs when the run's data can be had, else inputs shaped like the model's."""
    try:
        split = run.dataset().test
    except ConfigError:
        split = None
    if split is not None:
        x = split.x if split.rows is None else split.sequence(n, False)[0][0]  # streamed: its first batch
        x = x if isinstance(x, dict) else {run.io.inputs[0].name: x}
        return {k: v[:n] for k, v in x.items()}
    from dlcli.data.sources import synthetic

    cfg = run.cfg.data.copy()
    cfg.samples = n
    return synthetic(cfg, run.io, 0).x


def _as_model_input(model, sample: dict):
    return next(iter(sample.values())) if len(model.inputs) == 1 else sample


def _flat(prediction) -> list[np.ndarray]:
    if isinstance(prediction, dict):
        return [np.asarray(prediction[k]) for k in sorted(prediction)]
    if isinstance(prediction, (list, tuple)):
        return [np.asarray(p) for p in prediction]
    return [np.asarray(prediction)]


def predict_keras(model, sample: dict) -> list[np.ndarray]:
    return _flat(model.predict(_as_model_input(model, sample), verbose=0))


def write_and_predict(fmt: str, model, target: Path, sample: dict) -> list[np.ndarray]:
    import keras

    if fmt == "keras":
        with atomic_write(target) as tmp:
            model.save(tmp)
        reloaded = keras.saving.load_model(target, safe_mode=True)
        return predict_keras(reloaded, sample)
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(Problem("--format", f"ONNX export needs the onnx extra ({exc.name} is missing)", "pip install 'dlcli[onnx]'")) from exc
    model(_as_model_input(model, {k: v[:1] for k, v in sample.items()}))  # Keras exports only called models
    with atomic_write(target) as tmp:
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the temporary name
                model.export(str(tmp), format="onnx")
        except Exception as exc:
            from dlcli.graph.registry import strip_ansi

            lines = [line.strip() for line in strip_ansi(str(exc)).splitlines() if line.strip()]
            reason = " ".join(lines[:3])[:400] or type(exc).__name__
            raise RunFailed(Problem("export", f"Keras could not export this model to ONNX: {reason}", "--format keras exports every model; run with --debug for the exporter's traceback")) from exc
    session = onnxruntime.InferenceSession(str(target))
    ordered = list(sample.values())
    feeds = {
        spec.name: np.asarray(sample.get(spec.name, ordered[i])).astype(np.float32 if "float" in spec.type else np.int64)
        for i, spec in enumerate(session.get_inputs())
    }
    return [np.asarray(o) for o in session.run(None, feeds)]
