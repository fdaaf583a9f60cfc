"""TensorBoard files written with tensorboardX, read back with the tensorboard package's own reader."""

import math

import keras
import numpy as np
import pytest

from tests.callbacks.training import history, train_in

pytestmark = pytest.mark.slow

# Seed 000's IMDB example in miniature: an Embedding to project, a decaying learning rate.
RECIPE = """
seed: 1
data: {source: synthetic, samples: 96}
model:
  inputs: {tokens: {shape: [20], dtype: int32, vocab: 50}}
  nodes:
    embed: {class: Embedding, input_dim: 50, output_dim: 8}
    pool: {class: GlobalAveragePooling1D}
    out: {class: Dense, units: 1, activation: sigmoid}
  outputs:
    out: {loss: binary_crossentropy, metrics: [accuracy]}
optimizer: {name: rmsprop, learning_rate: {class: ExponentialDecay, initial_learning_rate: 0.01, decay_steps: 1, decay_rate: 0.9}}
train: {epochs: 3, batch_size: 16}
callbacks:
  tensorboard:
    class: TensorBoard
    log_dir: tensorboard
    histogram_freq: 2
    write_images: true
    write_steps_per_second: true
    update_freq: 2
    embeddings_freq: 1
    embeddings_layer_names: [embed]
    embeddings_metadata: {embed: labels.tsv}
"""
LABELS = "".join(f"token-{i}\n" for i in range(50))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    where = tmp_path_factory.mktemp("tb")
    (where / "imdb_tiny.yaml").write_text(RECIPE)
    (where / "labels.tsv").write_text(LABELS)
    made = []
    for seed, epochs in ((1, 3), (2, 1)):  # two runs of one recipe, to compare side by side
        code, run_dir, err = train_in(where, "recipe=imdb_tiny.yaml", f"seed={seed}", f"train.epochs={epochs}")
        assert code == 0, err
        made.append(run_dir)
    return made


def _reader(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    reader.Reload()
    return reader


def test_epoch_scalars_for_train_and_validation(runs):
    run_dir = runs[0]
    rows = history(run_dir)
    train, val = _reader(run_dir / "tensorboard" / "train"), _reader(run_dir / "tensorboard" / "validation")
    for reader, prefix in ((train, ""), (val, "val_")):
        for metric in ("loss", "accuracy"):
            events = reader.Scalars(f"epoch_{metric}")
            assert [e.step for e in events] == [0, 1, 2]
            assert [e.value for e in events] == pytest.approx([row[prefix + metric] for row in rows])


def test_learning_rate_follows_the_optimizer_schedule(runs):
    rates = [e.value for e in _reader(runs[0] / "tensorboard" / "train").Scalars("epoch_learning_rate")]
    steps = round(math.log(rates[1] / rates[0], 0.9))  # optimizer steps per epoch
    assert steps >= 1
    assert rates == pytest.approx([0.01 * 0.9 ** (steps * epoch) for epoch in (1, 2, 3)], rel=1e-5)


def test_weight_histograms_every_histogram_freq_epochs(runs):
    reader = _reader(runs[0] / "tensorboard" / "train")
    assert set(reader.Tags()["histograms"]) == {"embed/embeddings", "out/kernel", "out/bias"}
    assert [h.step for h in reader.Histograms("out/kernel")] == [0, 2]
    assert reader.Histograms("embed/embeddings")[0].histogram_value.num == 50 * 8


def test_batch_scalars_every_update_freq_batches(runs):
    reader = _reader(runs[0] / "tensorboard" / "batch")
    steps = int(keras.saving.load_model(runs[0] / "model.keras").optimizer.iterations)  # over the 3 epochs
    assert set(reader.Tags()["scalars"]) == {"batch_loss", "batch_accuracy", "batch_steps_per_second"}
    assert [e.step for e in reader.Scalars("batch_loss")] == list(range(2, steps + 1, 2))
    assert all(e.value > 0 for e in reader.Scalars("batch_steps_per_second"))


def test_steps_per_second_each_epoch(runs):
    events = _reader(runs[0] / "tensorboard" / "train").Scalars("epoch_steps_per_second")
    assert [e.step for e in events] == [0, 1, 2] and all(e.value > 0 for e in events)


def test_weight_images_with_the_histograms(runs):
    reader = _reader(runs[0] / "tensorboard" / "train")
    assert set(reader.Tags()["images"]) == {
        "embed/embeddings/image",
        "out/kernel/image",
    }  # out/bias, one number, is no image (as in Keras)
    (first, _) = images = reader.Images("out/kernel/image")
    assert [i.step for i in images] == [0, 2]
    assert (first.width, first.height) == (8, 1)  # the (8, 1) kernel as a row


def test_model_table_as_text(runs):
    from tensorboard.util import tensor_util

    (event,) = _reader(runs[0] / "tensorboard" / "train").Tensors("model/text_summary")
    text = tensor_util.make_ndarray(event.tensor_proto).item().decode()
    assert "embed" in text and "Embedding" in text and "total params" in text


def test_embedding_projector_holds_the_trained_embedding(runs):
    from google.protobuf import text_format
    from tensorboard.plugins.projector import projector_config_pb2

    root = runs[0] / "tensorboard" / "train"
    config = text_format.Parse((root / "projector_config.pbtxt").read_text(), projector_config_pb2.ProjectorConfig())
    (embedding,) = config.embeddings
    assert embedding.tensor_name == "embed"
    assert (root / embedding.metadata_path).read_text() == LABELS  # a copy, in the run
    vectors = np.loadtxt(root / embedding.tensor_path, delimiter="\t")
    trained = keras.saving.load_model(runs[0] / "model.keras").get_layer("embed").embeddings.numpy()
    np.testing.assert_allclose(vectors, trained, rtol=1e-5)


def test_runs_of_a_recipe_compare_side_by_side(runs):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    recipe_dir = runs[0].parent
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(recipe_dir))
    multiplexer.Reload()
    expected = {f"{r.name}/tensorboard/{part}" for r in runs for part in ("train", "validation", "batch")}
    assert set(multiplexer.Runs()) == expected
    losses = [multiplexer.Scalars(f"{r.name}/tensorboard/train", "epoch_loss")[-1].value for r in runs]
    assert losses[0] != losses[1]  # two seeds, two curves


@pytest.mark.parametrize(
    "arguments, key, message",
    [
        (
            "profile_batch: 5",
            "profile_batch",
            "dlcli's TensorBoard (tensorboardX, no TensorFlow) cannot profile; got 5",
        ),
        (
            "update_freq: sometimes",
            "update_freq",
            "expected 'epoch', 'batch' or a positive number of batches, got 'sometimes'",
        ),
        ("write_images: true", "write_images", "the weights are drawn with their histograms, and histogram_freq is 0"),
        ("embeddings_freq: 1, embeddings_metadata: nowhere.tsv", "embeddings_metadata", "no such file 'nowhere.tsv'"),
    ],
)
def test_keras_arguments_it_cannot_honour_are_refused_by_check(cli, in_tmp, arguments, key, message):
    code, _, err = cli("check", "recipe=digits_mlp", f"+callbacks.tb={{class: TensorBoard, {arguments}}}")
    assert code == 2 and f"error: callbacks.tb.{key}: {message}" in " ".join(err.split()), err
