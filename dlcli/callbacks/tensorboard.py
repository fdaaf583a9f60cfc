"""TensorBoard logs without TensorFlow: Keras' TensorBoard callback needs it, this one writes with tensorboardX.

The layout is Keras' own, so `tensorboard --logdir outputs/<recipe>/` shows
every run of a recipe side by side, train and validation curves overlaid:
`<log_dir>/train/` and `<log_dir>/validation/` hold `epoch_<metric>` scalars
(and `epoch_learning_rate`); `train/` also holds weight histograms every
`histogram_freq` epochs, the model's layer table as text, and the embedding
projector's files for Embedding layers every `embeddings_freq` epochs.
A resumed run purges the steps it repeats, so no epoch is shown twice.

Events are written synchronously with tensorboardX's event writer and
summaries: its SummaryWriter hands them to a background queue, and a killed run
would lose what was still queued.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from dlcli.errors import ConfigError, Problem, did_you_mean
from dlcli.runs.rundir import atomic_write, write_text


@keras.saving.register_keras_serializable(package="dlcli")
class TensorBoard(keras.callbacks.Callback):
    def __init__(
        self,
        log_dir: str = "tensorboard",
        histogram_freq: int = 0,
        write_graph: bool = True,
        embeddings_freq: int = 0,
        embeddings_layer_names: list[str] | None = None,
    ):
        super().__init__()
        self.log_dir = Path(log_dir)
        self.histogram_freq, self.write_graph = int(histogram_freq), bool(write_graph)
        self.embeddings_freq, self.embeddings_layer_names = int(embeddings_freq), embeddings_layer_names
        self.start_epoch = 0
        self._writers: dict = {}

    def get_config(self) -> dict:
        return {
            "log_dir": str(self.log_dir),
            "histogram_freq": self.histogram_freq,
            "write_graph": self.write_graph,
            "embeddings_freq": self.embeddings_freq,
            "embeddings_layer_names": self.embeddings_layer_names,
        }

    def attach(self, run) -> None:
        embeddings = {layer.name: layer for layer in run.model.layers if isinstance(layer, keras.layers.Embedding)}
        if self.embeddings_freq and not embeddings:
            raise ConfigError(Problem("embeddings_freq", "the model has no Embedding layer to project", "drop embeddings_freq"))
        for name in self.embeddings_layer_names or []:
            if name not in embeddings:
                raise ConfigError(Problem("embeddings_layer_names", f"no Embedding layer {name!r}", did_you_mean(name, embeddings) or f"Embedding layers: {', '.join(embeddings) or 'none'}"))

    def resumed(self, epoch: int) -> None:
        """Continue after `epoch` epochs: TensorBoard drops what a killed run logged from there on."""
        self.start_epoch = epoch

    def on_train_begin(self, logs=None):
        self._writers = {part: _EventFile(self.log_dir / part, purge_step=self.start_epoch) for part in ("train", "validation")}
        if self.write_graph and not self.start_epoch:
            from tensorboardX import summary

            from dlcli.graph.summary import summary_text

            table = "\n".join("    " + line for line in summary_text(self.model).splitlines())  # markdown code block
            self._writers["train"].add(summary.text("model", table), 0)

    def on_epoch_end(self, epoch, logs=None):
        from tensorboardX import summary

        logs = dict(logs or {})
        if "learning_rate" not in logs:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for key, value in logs.items():
            validation = key.startswith("val_")
            self._writers["validation" if validation else "train"].add(summary.scalar(f"epoch_{key[4:] if validation else key}", float(value)), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for weight in self.model.weights:
                self._writers["train"].add(summary.histogram(weight.path, np.asarray(weight.numpy(), dtype="float32"), 30), epoch)
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
        names = self.embeddings_layer_names or [l.name for l in self.model.layers if isinstance(l, keras.layers.Embedding)]
        config = []
        for name in names:
            matrix = np.asarray(self.model.get_layer(name).embeddings.numpy())
            with atomic_write(root / "embeddings" / name / "tensors.tsv") as tmp:
                np.savetxt(tmp, matrix, delimiter="\t", fmt="%.6g")
            config.append(f'embeddings {{\n  tensor_name: "{name}"\n  tensor_path: "embeddings/{name}/tensors.tsv"\n}}\n')
        write_text(root / "projector_config.pbtxt", "".join(config))


class _EventFile:
    """One event file, written as events come."""

    def __init__(self, directory: Path, purge_step: int = 0):
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        directory.mkdir(parents=True, exist_ok=True)
        self._event = Event
        self._writer = EventsWriter(str(directory / "events"))
        if purge_step:  # TensorBoard drops earlier files' events from this step on
            self._writer.write_event(Event(wall_time=time.time(), step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def add(self, summary, step: int) -> None:
        self._writer.write_event(self._event(wall_time=time.time(), step=step, summary=summary))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
