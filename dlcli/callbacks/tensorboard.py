"""TensorBoard logs without TensorFlow: Keras' TensorBoard callback needs it, this one writes with tensorboardX.

The layout is Keras' own, so `tensorboard --logdir outputs/<recipe>/` shows
every run of a recipe side by side, train and validation curves overlaid:
`<log_dir>/train/` and `<log_dir>/validation/` hold `epoch_<metric>` scalars
(and `epoch_learning_rate`); `train/` also holds weight histograms every
`histogram_freq` epochs (and the weights as images with `write_images`), the
model's layer table as text, and the embedding projector's files for Embedding
layers every `embeddings_freq` epochs. With `update_freq` ('batch' or every N
batches), `batch_<metric>` scalars go to `<log_dir>/batch/`, stepped by batch.
A resumed run purges the steps it repeats, so no epoch is shown twice.
Keras' `profile_batch` needs a profiler this callback does not run: only its
default, 0, is taken.

Events are written synchronously with tensorboardX's event writer and
summaries: its SummaryWriter hands them to a background queue, and a killed run
would lose what was still queued.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import keras
import numpy as np

from dlcli.errors import ConfigError, Problem, did_you_mean
from dlcli.runs.rundir import atomic_write, write_text


@keras.saving.register_keras_serializable(package="dlcli")
class TensorBoard(keras.callbacks.Callback):
    """Keras' TensorBoard, its arguments and tags, without TensorFlow.

    Args:
        log_dir: the directory for the event files, in the run directory unless absolute.
        histogram_freq: Integer, epochs between weight histograms; 0 writes none.
        write_graph: Boolean, write the model's layer table as text (Keras' graph needs TensorFlow).
        write_images: Boolean, draw the weights as images beside their histograms.
        write_steps_per_second: Boolean, log training steps per second (per epoch, and per batch with update_freq).
        update_freq: "epoch", "batch" (every batch) or an integer: also write `batch_<metric>` every that many batches.
        profile_batch: 0 only: Keras' profiler is TensorFlow's (or JAX's, which Keras runs from Python 3.12).
        embeddings_freq: Integer, epochs between snapshots of the Embedding layers for the projector; 0 takes none.
        embeddings_metadata: a labels file for every projected layer, or a mapping of layer name to file.
        embeddings_layer_names: (Keras 2) the Embedding layers to project; all of them by default.
    """

    def __init__(
        self,
        log_dir: str = "tensorboard",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: str | dict[str, str] | None = None,
        embeddings_layer_names: list[str] | None = None,
    ):
        super().__init__()
        if profile_batch:
            raise ConfigError(
                Problem(
                    "profile_batch",
                    f"dlcli's TensorBoard (tensorboardX, no TensorFlow) cannot profile; got {profile_batch!r}",
                    "remove profile_batch (0, the default, is the only value it takes); jax.profiler.trace() writes traces TensorBoard's profile plugin reads",
                )
            )
        if not (
            update_freq in ("epoch", "batch")
            or (isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0)
        ):
            raise ConfigError(
                Problem(
                    "update_freq", f"expected 'epoch', 'batch' or a positive number of batches, got {update_freq!r}"
                )
            )
        if write_images and not histogram_freq:
            raise ConfigError(
                Problem(
                    "write_images",
                    "the weights are drawn with their histograms, and histogram_freq is 0",
                    "set histogram_freq: 1 (every epoch)",
                )
            )
        if embeddings_metadata is not None and not embeddings_freq:
            raise ConfigError(
                Problem(
                    "embeddings_metadata",
                    "labels the embedding projector's points, and embeddings_freq is 0",
                    "set embeddings_freq: 1 (every epoch)",
                )
            )
        self.log_dir = Path(log_dir)
        self.histogram_freq, self.write_graph, self.write_images = (
            int(histogram_freq),
            bool(write_graph),
            bool(write_images),
        )
        self.write_steps_per_second, self.update_freq = (
            bool(write_steps_per_second),
            1 if update_freq == "batch" else update_freq,
        )
        self.embeddings_freq, self.embeddings_layer_names = int(embeddings_freq), embeddings_layer_names
        self.embeddings_metadata = _metadata_files(embeddings_metadata)
        self.start_epoch = 0
        self._writers: dict = {}
        self._step = 0  # training batches so far, the step of batch-level scalars

    def get_config(self) -> dict:
        return {
            "log_dir": str(self.log_dir),
            "histogram_freq": self.histogram_freq,
            "write_graph": self.write_graph,
            "write_images": self.write_images,
            "write_steps_per_second": self.write_steps_per_second,
            "update_freq": self.update_freq,
            "embeddings_freq": self.embeddings_freq,
            "embeddings_metadata": self.embeddings_metadata,
            "embeddings_layer_names": self.embeddings_layer_names,
        }

    def attach(self, run) -> None:
        embeddings = {layer.name: layer for layer in run.model.layers if isinstance(layer, keras.layers.Embedding)}
        if self.embeddings_freq and not embeddings:
            raise ConfigError(
                Problem("embeddings_freq", "the model has no Embedding layer to project", "drop embeddings_freq")
            )
        named = {
            "embeddings_layer_names": self.embeddings_layer_names or [],
            "embeddings_metadata": self.embeddings_metadata if isinstance(self.embeddings_metadata, dict) else {},
        }
        for key, names in named.items():
            for name in names:
                if name not in embeddings:
                    raise ConfigError(
                        Problem(
                            key,
                            f"no Embedding layer {name!r}",
                            did_you_mean(name, embeddings) or f"Embedding layers: {', '.join(embeddings) or 'none'}",
                        )
                    )

    def resumed(self, epoch: int) -> None:
        """Continue after `epoch` epochs: TensorBoard drops what a killed run logged from there on."""
        self.start_epoch = epoch

    def on_train_begin(self, logs=None):
        self._writers = {
            part: _EventFile(self.log_dir / part, purge_step=self.start_epoch) for part in ("train", "validation")
        }
        self._step = self.start_epoch * (self.params.get("steps") or 0)
        if self.update_freq != "epoch":  # its own directory: the train one's purge counts epochs, not batches
            self._writers["batch"] = _EventFile(self.log_dir / "batch", purge_step=self._step)
        if self.write_graph and not self.start_epoch:
            from tensorboardX import summary

            from dlcli.graph.summary import summary_text

            table = "\n".join("    " + line for line in summary_text(self.model).splitlines())  # markdown code block
            self._writers["train"].add(summary.text("model", table), 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_began, self._epoch_steps = time.time(), 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_began = time.time()

    def on_train_batch_end(self, batch, logs=None):
        from tensorboardX import summary

        self._step += 1
        self._epoch_steps += 1
        if self.update_freq == "epoch" or self._step % self.update_freq:
            return
        logs = dict(logs or {})
        if self.write_steps_per_second:
            logs["steps_per_second"] = 1.0 / max(time.time() - self._batch_began, 1e-9)
        for key, value in logs.items():
            self._writers["batch"].add(summary.scalar(f"batch_{key}", float(value)), self._step)

    def on_epoch_end(self, epoch, logs=None):
        from tensorboardX import summary

        logs = dict(logs or {})
        if "learning_rate" not in logs:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        if self.write_steps_per_second:
            logs["steps_per_second"] = self._epoch_steps / max(time.time() - self._epoch_began, 1e-9)
        for key, value in logs.items():
            validation = key.startswith("val_")
            self._writers["validation" if validation else "train"].add(
                summary.scalar(f"epoch_{key[4:] if validation else key}", float(value)), epoch
            )
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight in self.model.weights:
                values = np.asarray(weight.numpy(), dtype="float32")
                self._writers["train"].add(summary.histogram(weight.path, values, 30), epoch)
                image = _as_images(values) if self.write_images else None
                if image is not None:
                    self._writers["train"].add(summary.image(f"{weight.path}/image", image, dataformats="NHWC"), epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self._write_embeddings()
        for writer in self._writers.values():
            writer.flush()  # a killed run keeps every finished epoch

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _write_embeddings(self) -> None:
        """The projector's files for the latest weights: one tensors.tsv per layer and projector_config.pbtxt."""
        root = self.log_dir / "train"
        names = self.embeddings_layer_names or [
            layer.name for layer in self.model.layers if isinstance(layer, keras.layers.Embedding)
        ]
        config = []
        for name in names:
            matrix = np.asarray(self.model.get_layer(name).embeddings.numpy())
            with atomic_write(root / "embeddings" / name / "tensors.tsv") as tmp:
                np.savetxt(tmp, matrix, delimiter="\t", fmt="%.6g")
            metadata = (
                self.embeddings_metadata.get(name)
                if isinstance(self.embeddings_metadata, dict)
                else self.embeddings_metadata
            )
            line = ""
            if metadata is not None:  # a copy: the run keeps its labels wherever it is moved
                shutil.copyfile(metadata, root / "embeddings" / name / "metadata.tsv")
                line = f'  metadata_path: "embeddings/{name}/metadata.tsv"\n'
            config.append(
                f'embeddings {{\n  tensor_name: "{name}"\n  tensor_path: "embeddings/{name}/tensors.tsv"\n{line}}}\n'
            )
        write_text(root / "projector_config.pbtxt", "".join(config))


def _metadata_files(value: str | dict[str, str] | None) -> str | dict[str, str] | None:
    """Labels files as absolute paths (relative ones are to the directory dlcli runs in), which must exist."""
    if value is None:
        return None
    files = value if isinstance(value, dict) else {None: value}
    found = {}
    for layer, name in files.items():
        path = Path(str(name)).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(
                Problem(
                    "embeddings_metadata" if layer is None else f"embeddings_metadata.{layer}",
                    f"no such file {str(name)!r} (resolved to {path})",
                    "one label per line, a line for each row of the embedding",
                )
            )
        found[layer] = str(path)
    return found if isinstance(value, dict) else found[None]


def _as_images(weight: np.ndarray) -> np.ndarray | None:
    """A weight as Keras' TensorBoard draws it (NHWC: a bias as a row, a kernel as a matrix, a
    squeezed convolution kernel as one image per filter), scaled to 0..1; None for other shapes."""
    w = np.squeeze(weight)
    if w.ndim == 1:
        w = w.reshape(1, 1, -1, 1)
    elif w.ndim == 2:
        w = (w.T if w.shape[0] > w.shape[1] else w)[None, :, :, None]
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))[..., None]  # channels last: a kernel per output channel
    else:
        return None
    low, high = float(w.min()), float(w.max())
    return (w - low) / (high - low) if high > low else np.zeros_like(w)


class _EventFile:
    """One event file, written as events come."""

    def __init__(self, directory: Path, purge_step: int = 0):
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        directory.mkdir(parents=True, exist_ok=True)
        self._event = Event
        self._writer = EventsWriter(str(directory / "events"))
        if purge_step:  # TensorBoard drops earlier files' events from this step on
            self._writer.write_event(
                Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START))
            )

    def add(self, summary, step: int) -> None:
        self._writer.write_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
