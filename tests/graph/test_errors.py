"""Each mistake the graph language catches: exit 2, one screen, the node and key named, no traceback."""

from pathlib import Path

import pytest

AS_PRINTED = Path(__file__).parent / "recipes" / "inception_as_printed.yaml"
POOL_BRANCH = Path(__file__).parent / "recipes" / "pool_branch.yaml"

CASES = [
    # (id, check arguments, fragments the error screen must contain)
    ("unknown-layer", ["recipe=siamese_lstm", "model.nodes.predictions.class=Dens"],
     ["error: model.nodes.predictions.class: unknown layer 'Dens'", "did you mean 'Dense'"]),
    ("bad-keyword", ["recipe=siamese_lstm", "+model.nodes.merged.axes=1"],
     ["error: model.nodes.merged.axes: Concatenate takes no argument 'axes'", "did you mean 'axis'?", "valid: activity_regularizer, autocast, axis,"]),
    ("input-nobody-produces", ["recipe=siamese_lstm", "model.nodes.merged.inputs=[left_output,rigth_output]"],
     ["error: model.nodes.merged.inputs: no input or node produces 'rigth_output'", "did you mean 'right_output'"]),
    ("cycle", ["recipe=news_main_aux", "model.nodes.embedding.inputs=dense_2"],
     ["error: model.nodes: the graph has a cycle: embedding -> lstm_out -> concatenated -> dense_1 -> dense_2 -> embedding"]),
    ("unused-node", ["recipe=news_main_aux", "+model.nodes.extra={class: Dense, units: 3, inputs: dense_1}"],
     ["error: model.nodes.extra: this node's output is never used", "list it under outputs:"]),
    ("shared-incompatible-shapes", ["recipe=siamese_lstm", "model.inputs.right.shape=[null,64]"],
     ["error: model.nodes.right_output: shared 'lstm' is called with (None, None, 64) from 'right', but its weights were built for (None, None, 128) from 'left' (at 'left_output')"]),
    ("output-does-not-exist", ["recipe=news_main_aux", "model.outputs=[main_output,aux_outptu]"],
     ["error: model.outputs.aux_outptu: no node 'aux_outptu'", "did you mean 'aux_output'"]),
    ("loss-key-not-an-output", ["recipe=social_multi_output", "+model.loss.agee=mse"],
     ["error: model.loss.agee: not an output of the model", "did you mean 'age'"]),
    ("loss-weight-key-not-an-output", ["recipe=social_multi_output", "+model.loss_weights.gendre=2"],
     ["error: model.loss_weights.gendre: not an output of the model", "did you mean 'gender'?"]),
    ("loss-weights-count", ["recipe=news_main_aux", "model.loss_weights=[1.0]"],
     ["error: model.loss_weights: 1 values for 2 outputs (main_output, aux_output)"]),
    ("add-channels-differ", ["recipe=residual_identity", "model.nodes.y3.filters=64"],
     ["error: model.nodes.add: cannot Add (None, 32, 32, 64) from 'y3' with (None, 32, 32, 128) from 'x'", "the channel counts differ (64 vs 128)"]),
    ("inception-as-printed", [f"recipe={AS_PRINTED}"],
     ["error: model.nodes.output: cannot Concatenate (None, 16, 16, 128) from 'branch_a' with (None, 15, 15, 128) from 'branch_b', (None, 13, 13, 128) from 'branch_c' and (None, 14, 14, 128) from 'branch_d'",
      "hint: the spatial sizes differ; give the convolutions padding: same (now 'valid' on branch_b, branch_c_pool, branch_c, branch_d_3x3 and branch_d)"]),
    ("keras-shape-error", ["recipe=residual_identity", "model.nodes.y2.class=Conv1D"],
     ["error: model.nodes.y2: Conv1D cannot take (None, 32, 32, 128) from 'y1': ", "Kernel shape must have the same length as"]),
    ("several-outputs-unpicked", ["recipe=siamese_lstm", "+model.shared.lstm.return_state=true"],
     ["error: model.nodes.merged: Concatenate cannot take [(None, 32), (None, 32), (None, 32)] from 'left_output'", "hint: 'left_output' gives 3 outputs: take one as inputs: left_output[0] (up to left_output[2])"]),
    ("model-loss-reaching-no-output", ["recipe=siamese_lstm", "+model.loss=mae"],
     ["error: model.loss: every output sets its own loss, so this applies to none of them", "hint: set model.outputs.<name>.loss (for predictions), or remove theirs"]),
    ("text-for-a-required-number", ["recipe=siamese_lstm", "model.shared.lstm.units=abc"],
     ["error: model.shared.lstm.units: LSTM(units='abc') failed", "hint: units takes a number, not 'abc'"]),
    ("imdb-as-printed", ["recipe=imdb_conv1d", "model.layers.5.activation=linear"],  # seed 000: Dense(1), binary_crossentropy
     ["error: model.outputs.sentiment.loss: binary_crossentropy expects probabilities, but output 'sentiment' has no activation", "hint: give 'sentiment' activation: sigmoid, or let the loss take scores: {class: BinaryCrossentropy, from_logits: true}"]),
    ("block-parameter", ["recipe=residual_cnn", "+model.nodes.stage1.filter=32"],
     ["error: model.nodes.stage1.filter: block 'residual_identity' has no parameter 'filter'", "did you mean 'filters'?"]),
    ("keyword-inside-a-block", ["recipe=residual_cnn", "+model.blocks.residual_identity.nodes.conv2.filterz=3"],
     ["error: model.blocks.residual_identity.nodes.conv2.filterz: Conv2D takes no argument 'filterz'", "did you mean 'filters'?"]),
    ("shape-error-in-a-block-copy", ["recipe=residual_cnn", "model.nodes.stage3.filters=32"],
     ["error: model.blocks.residual_identity.nodes.add: cannot Add (None, 4, 4, 32) from 'stage3_1_bn2' with (None, 4, 4, 64) from 'stage2' [block copy: model.nodes.stage3, copy 1 of 2]"]),
    ("regularizer-class", ["recipe=keras_intro", "+model.layers.0.kernel_regularizer={class: L3, l2: 0.1}"],
     ["error: model.layers.0.kernel_regularizer.class: unknown regularizer class 'L3'", "valid: L1, L1L2, L2"]),
    ("initializer-name", ["recipe=keras_intro", "+model.layers.2.kernel_initializer=he_normall"],
     ["error: model.layers.2.kernel_initializer: unknown initializer 'he_normall'", "did you mean 'he_normal'"]),
    ("loss-name-in-model-loss", ["recipe=news_main_aux", "model.loss=binary_crosentropy"],
     ["error: model.loss: unknown loss 'binary_crosentropy'", "did you mean 'binary_crossentropy'"]),
    ("unknown-metric", ["recipe=siamese_lstm", "model.outputs.predictions.metrics=[acuracy]"],
     ["error: model.outputs.predictions.metrics.0: unknown metric 'acuracy'", "did you mean 'accuracy'"]),
    ("import-path-is-not-a-class", ["recipe=siamese_lstm", "model.nodes.predictions.class=my_pkg.layers.Dense"],
     ["error: model.nodes.predictions.class: unknown layer 'my_pkg.layers.Dense'", "register your own through plugins:"]),
    ("bad-value-names-its-key", ["recipe=mnist_dropout", "model.nodes.hidden1.units=abc"],
     ["error: model.nodes.hidden1.units: Dense(units='abc', activation='relu') failed: Received an invalid value for `units`"]),
    ("negative-value-names-its-key", ["recipe=mnist_dropout", "model.nodes.hidden1.units=-3"],
     ["error: model.nodes.hidden1.units: Dense(units=-3, activation='relu') failed:", "Received: units=-3"]),
    ("bad-value-from-a-block-instance", ["recipe=residual_cnn", "+model.nodes.stem.kernel_size=-1"],
     ["error: model.nodes.stem.kernel_size: Conv2D(filters=32, kernel_size=-1,", "(at model.blocks.conv_bn_relu.nodes.conv) [block copy: model.nodes.stem]"]),
    ("bad-value-from-a-nested-block-instance", ["recipe=residual_cnn", "model.nodes.stage1.filters=-1"],
     ["error: model.nodes.stage1.filters: Conv2D(filters=-1,", "[block copy: model.blocks.residual_identity.nodes.conv1 in model.nodes.stage1, copy 1 of 2]"]),
    ("keras-bold-text-shown-plain", ["recipe=mnist_dropout", "+model.nodes.r={class: Reshape, target_shape: [7], inputs: input}", "+model.nodes.hidden1.inputs=r"],
     ["error: model.nodes.r: Reshape cannot take (None, 784) from 'input': The total size of the tensor must be unchanged."]),
    ("self-loop", ["recipe=mnist_dropout", "+model.nodes.hidden1.inputs=hidden1"],
     ["error: model.nodes: the graph has a cycle: hidden1 -> hidden1"]),
    ("node-without-class-is-a-misspelt-node", ["recipe=mnist_dropout", "+model.nodes.dense1.kernel_regularizer=l2"],
     ["error: model.nodes.dense1: a node needs exactly one of `class:`, `use:` or `block:`", "hint: no node 'dense1' in the recipe: did you mean 'hidden1'?"]),
    ("merge-after-pooling", [f"recipe={POOL_BRANCH}"],
     ["error: model.nodes.merge: cannot Concatenate (None, 8, 8, 4) from 'c1' with (None, 4, 4, 3) from 'p1'",
      "hint: the spatial sizes differ; p1 (MaxPooling2D, pool_size 2) shrinks one branch more than the others"]),
    ("value-of-the-wrong-kind", ["recipe=mnist_dropout", "+model.nodes.hidden1.use_bias=maybe"],
     ["error: model.nodes.hidden1.use_bias: expected true or false (Dense's default is true), got 'maybe' (set on the command line)"]),
    ("optimizer-option-of-the-wrong-kind", ["recipe=digits_mlp", "+optimizer.options.beta_1=abc"],
     ["error: optimizer.options.beta_1: expected a number (Adam's default is 0.9), got 'abc' (set on the command line)"]),
    ("input-dtype-misspelt", ["recipe=digits_mlp", "+model.inputs.input.dtype=flaot32"],
     ["error: model.inputs.input.dtype: unknown dtype 'flaot32' (set on the command line)", "did you mean 'float32'?"]),
    ("softmax-over-one-unit", ["recipe=breast_cancer_binary", "model.nodes.final.activation=softmax"],  # always 1
     ["error: model.nodes.final.activation: output 'final' is a softmax over one unit, which is 1 whatever its input: it cannot learn",
      "hint: for a yes/no target give 'final' activation: sigmoid (one unit)"]),
    ("log-softmax-over-one-unit", ["recipe=breast_cancer_binary", "model.nodes.final.activation=log_softmax"],  # always 0
     ["error: model.nodes.final.activation: output 'final' is a log_softmax over one unit, which is 0 whatever its input"]),
]  # fmt: skip


def flat(text: str) -> str:
    """The error screen with Rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.mark.parametrize("args, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_graph_error_exits_2_naming_node_and_key(cli, in_tmp, args, fragments):
    code, out, err = cli("check", *args)
    assert code == 2, out + err
    for fragment in fragments:
        assert flat(fragment) in flat(err)
    assert "Traceback" not in err
    assert "\x1b" not in err  # Keras' own text reaches users without terminal escapes
    assert len(err.splitlines()) <= 25  # one screen
    assert out == ""  # no table for a model that does not build


def test_misspelt_output_is_the_one_error_not_the_losses_keyed_by_the_right_name(cli, in_tmp):
    # social_multi_output lists its outputs and keys loss and loss_weights by output name.
    code, out, err = cli("check", "recipe=social_multi_output", "model.outputs=[age,income,gendr]")
    assert code == 2, out + err
    assert flat(
        "error: model.outputs.gendr: no node 'gendr' (set on the command line)\nhint: did you mean 'gender'?"
    ) in flat(err)
    assert err.count("error:") == 1, (
        err
    )  # not model.loss.gender / model.loss_weights.gender "not an output", nor "needs a loss"


def test_pooling_with_stride_one_keeps_the_padding_hint(cli, in_tmp):
    code, out, err = cli("check", f"recipe={POOL_BRANCH}", "+model.nodes.p1.strides=1")
    assert code == 2, out + err
    assert flat("hint: the spatial sizes differ; give the convolutions padding: same (now 'valid' on p1)") in flat(err)
