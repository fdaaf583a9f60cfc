"""Writing a model in another format and predicting with the written copy."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from dlcli.errors import ConfigError, Problem, RunFailed
from dlcli.foreign import onnxruntime_failure, summary
from dlcli.runs.rundir import atomic_write

EXTENSIONS = {"keras": ".keras", "onnx": ".onnx"}


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


def output_names(model) -> list[str]:
    """The model's outputs in the order `_flat` gives their predictions (a dict's by sorted key, as
    Keras flattens it, and so as its ONNX exporter orders the graph's outputs)."""
    return sorted(model.output) if isinstance(model.output, dict) else list(model.output_names)


def predict_keras(model, sample: dict) -> list[np.ndarray]:
    return _flat(model.predict(_as_model_input(model, sample), verbose=0))


# protobuf cannot hold a message of 2 GiB: a bigger ONNX model keeps its weights in a file beside it.
ONNX_INLINE_LIMIT = 2**31 - 2**24


def export(
    fmt: str, model, target: Path, sample: dict, tolerance: float, trust_code: bool = False
) -> tuple[float, Path | None]:
    """Write `model` to `target`; return the largest prediction difference from the written copy,
    and the weights file written beside it (an ONNX model over protobuf's 2 GB limit), if any.

    The copy is checked under a temporary name and renamed only once it loads and agrees
    within `tolerance`: a file at `target` is always one that was proven to work.
    """
    if fmt == "onnx":
        model = in_float32(model)
    expected = predict_keras(model, sample)
    beside = None
    try:
        with atomic_write(target) as tmp:
            if fmt == "keras":
                got = _write_keras(model, tmp, sample, trust_code)
            else:
                beside = _write_onnx(model, tmp, target, sample)
                got = _run_onnx(model, tmp, sample)
            worst = difference(expected, got)
            if not worst <= tolerance:  # NaN predictions fail too
                raise RunFailed(
                    Problem(
                        "export",
                        f"the exported model's predictions differ by up to {worst:.3g} (tolerance {tolerance:g}); nothing was written",
                        f"a rounding difference passes with --tolerance {10 ** np.ceil(np.log10(worst)):g}"
                        if np.isfinite(worst) and worst < 1e-2
                        else None,
                    )
                )
    except BaseException:
        if beside is not None:
            beside.unlink(missing_ok=True)
        raise
    return worst, beside


def difference(expected: list[np.ndarray], got: list[np.ndarray]) -> float:
    """The largest absolute difference between two models' predictions, over every output."""
    return max(float(np.max(np.abs(np.asarray(e) - np.asarray(g)))) for e, g in zip(expected, got))


def in_float32(model):
    """A mixed-precision model as one computing in float32, with the same (float32) weights: ONNX
    Runtime has no bfloat16 kernels on CPU, and float16 would need a looser parity check. The ONNX
    file is checked against this model."""
    if all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers):
        return model
    import keras

    def cloned(layer):
        return type(layer).from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=cloned)
    copy.set_weights(model.get_weights())
    return copy


def _write_keras(model, path: Path, sample: dict, trust_code: bool = False) -> list[np.ndarray]:
    """`trust_code` (export --trust-code): a model holding a Lambda layer loads only outside safe mode."""
    import keras

    from dlcli import backend

    model.save(path)
    with backend.precision(model.dtype_policy.name):  # reloaded as it trained (train.precision)
        return predict_keras(keras.saving.load_model(path, safe_mode=not trust_code), sample)


def _write_onnx(model, path: Path, target: Path, sample: dict) -> Path | None:
    """Keras' exporter (jax2onnx) puts every tensor over 1 MB in a `<file>.data` beside the model,
    under the temporary name: the weights are moved back into the one file, which then runs wherever
    it is copied. Over protobuf's 2 GB limit they go to `<target>.data`, named for the file it serves."""
    try:
        import onnx
        import onnxruntime  # noqa: F401  (checked here: the copy is run next)
    except ImportError as exc:
        raise ConfigError(
            Problem(
                "--format", f"ONNX export needs the onnx extra ({exc.name} is missing)", "pip install 'dlcli[onnx]'"
            )
        ) from exc
    model(_as_model_input(model, {k: v[:1] for k, v in sample.items()}))  # Keras exports only called models
    spilled = Path(f"{path}.data")
    try:
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the temporary name
                model.export(str(path), format="onnx")
        except Exception as exc:
            raise RunFailed(
                Problem(
                    "export",
                    f"Keras could not export this model to ONNX: {summary(exc)}",
                    "--format keras exports every model; run with --debug for the exporter's traceback",
                )
            ) from exc
        proto = onnx.load(str(path))  # with the spilled tensors read back in
        _name_outputs(proto, output_names(model))
        size = path.stat().st_size + (spilled.stat().st_size if spilled.exists() else 0)
        if size < ONNX_INLINE_LIMIT:
            onnx.save_model(proto, str(path), save_as_external_data=False)
            return None
        beside = target.with_name(target.name + ".data")
        onnx.save_model(
            proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=beside.name
        )
        return beside
    finally:
        spilled.unlink(missing_ok=True)


def _name_outputs(proto, names: list[str]) -> None:
    """The graph's outputs named as the model's (the exporter calls them `softmax_out_0`, ...), through
    Identity nodes; the parity check that follows compares them in this order."""
    import onnx

    taken = {t for node in proto.graph.node for t in [*node.input, *node.output]}
    for output, name in zip(proto.graph.output, names):
        if output.name != name and name not in taken:
            proto.graph.node.append(onnx.helper.make_node("Identity", [output.name], [name], name=f"{name}_named"))
            output.name = name


def _run_onnx(model, path: Path, sample: dict) -> list[np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # warnings ('Removing initializer') are noise; errors are raised, and reported below
    try:
        session = onnxruntime.InferenceSession(str(path), options)
    except Exception as exc:
        raise _unrunnable(model, exc) from exc
    ordered = list(sample.values())
    feeds = {
        spec.name: np.asarray(sample.get(spec.name, ordered[i])).astype(_numpy_dtype(spec.type))
        for i, spec in enumerate(session.get_inputs())
    }
    try:
        return [np.asarray(o) for o in session.run(None, feeds)]
    except Exception as exc:
        raise _unrunnable(model, exc) from exc


def _unrunnable(model, exc: Exception) -> RunFailed:
    """The exporter's fault, not the user's: say so, and which layer if onnxruntime names the failing op."""
    reason, op = onnxruntime_failure(exc)
    where = f" at its {op} node{_layers_like(model, op)}" if op else ""
    return RunFailed(
        Problem(
            "export",
            f"the ONNX exporter produced a model onnxruntime cannot run{where}: {reason}; nothing was written",
            "a bug of the exporter (jax2onnx), worth reporting upstream; --format keras exports every model",
        )
    )


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """The numpy dtype of an onnxruntime input type such as 'tensor(int32)'."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))


def _layers_like(model, op: str) -> str:
    """' (layer pool1, MaxPooling2D)': the model's layers whose class is named like the ONNX op, if any."""
    layers = [
        f"{layer.name}, {type(layer).__name__}"
        for layer in model.layers
        if type(layer).__name__.lower().startswith(op.lower())
    ]
    return f" (layer {'; '.join(layers)})" if layers else ""
