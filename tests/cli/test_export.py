"""dlcli export on smoke-trained runs: what is written, what is refused, and what is left behind when it fails."""

import csv

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.slow

CNN = """\
defaults: [{override /data: digits}]
data: {preprocess: {reshape: [8, 8, 1]}}
model:
  inputs: {image: {shape: [8, 8, 1]}}
  nodes:
    conv1: {class: Conv2D, filters: 8, kernel_size: 3, activation: relu, padding: same}
    pool1: {class: MaxPooling2D, pool_size: 2}
    flat: {class: Flatten}
    out: {class: Dense, units: 10, activation: softmax}
  outputs: {out: {loss: categorical_crossentropy, metrics: [accuracy]}}
"""


def smoke_run(tmp_path_factory, recipe: str, text: str | None = None):
    """Train `recipe` (written from `text` when given) with --smoke in a directory of its own; returns the run directory."""
    from dlcli.cli import app

    where = tmp_path_factory.mktemp("runs")
    if text is not None:
        (where / f"{recipe}.yaml").write_text(text)
        recipe = str(where / f"{recipe}.yaml")
    result = CliRunner().invoke(
        app,
        ["-q", "train", f"recipe={recipe}", "--smoke", "--runs-dir", str(where / "outputs")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return where / result.stdout.strip().splitlines()[-1].removeprefix("run: ")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return smoke_run(tmp_path_factory, "digits_mlp")


def test_onnx_export_feeds_integer_inputs_with_the_dtype_the_model_declares(tmp_path_factory, cli, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    run = smoke_run(tmp_path_factory, "imdb_conv1d")  # its input is int32 token ids
    code, out, err = cli("export", run, "-f", "onnx", "--output", tmp_path / "exp" / "imdb.onnx")
    assert code == 0, err
    assert f"wrote {tmp_path / 'exp' / 'imdb.onnx'}\nparity: max |keras - onnx|" in out
    assert [i.type for i in onnxruntime.InferenceSession(str(tmp_path / "exp" / "imdb.onnx")).get_inputs()] == [
        "tensor(int32)"
    ]


def test_onnx_model_onnxruntime_cannot_run_is_reported_and_not_kept(tmp_path_factory, cli, capfd):
    pytest.importorskip("onnxruntime")
    run = smoke_run(tmp_path_factory, "cnn", CNN)
    code, out, err = cli("export", run, "-f", "onnx")
    if code == 0:
        pytest.skip(
            "the ONNX exporter now lowers MaxPooling2D to a MaxPool onnxruntime runs: pick another layer it gets wrong"
        )
    assert code == 1
    assert (
        "the ONNX exporter produced a model onnxruntime cannot run at its MaxPool node (layer pool1, MaxPooling2D)"
        in err
    )
    assert "hint: a bug of the exporter (jax2onnx), worth reporting upstream; --format keras exports every model" in err
    assert not (run / "export").exists()  # neither model.onnx nor its temporary, nor the folder made for them
    assert "onnxruntime" not in capfd.readouterr().err  # its own log lines repeat what dlcli says


def test_export_failing_the_parity_check_leaves_no_file(digits, cli):
    pytest.importorskip("onnxruntime")
    code, _, err = cli("export", digits, "-f", "onnx", "--tolerance", "0")  # float32 arithmetic differs a little
    assert code == 1
    assert "the exported model's predictions differ by up to" in err and "(tolerance 0); nothing was written" in err
    assert "a rounding difference passes with --tolerance" in err
    assert not (digits / "export").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--output", "exp/m.onnx"],
            "error: --output: --format keras writes a .keras file, not 'm.onnx'\nhint: --output exp/m.keras",
        ),
        (
            ["-f", "onnx", "--output", "m.keras"],
            "error: --output: --format onnx writes a .onnx file, not 'm.keras'\nhint: --output m.onnx",
        ),
        (["--tolerance", "-1"], "error: --tolerance: must be a number >= 0, not -1"),
    ],
)
def test_export_options_that_cannot_work_are_usage_errors(digits, cli, in_tmp, args, message):
    code, _, err = cli("export", digits, *args)
    assert code == 2 and message in err
    assert not (digits / "export").exists() or list((digits / "export").iterdir()) == []
    assert list(in_tmp.iterdir()) == []


def test_export_replaces_an_existing_file_only_with_force(digits, cli, in_tmp):
    (in_tmp / "mine.keras").write_text("mine")
    code, _, err = cli("export", digits, "-o", "mine.keras")
    assert code == 2 and "error: --output: mine.keras exists" in err and (in_tmp / "mine.keras").read_text() == "mine"
    code, out, err = cli("export", digits, "-o", "mine.keras", "--force")
    assert code == 0 and (in_tmp / "mine.keras").read_bytes()[:2] == b"PK", err  # a .keras file is a zip
    assert "note:" not in out  # a smoke run's synthetic data is not preprocessed


def test_export_names_the_preprocessing_it_leaves_out():
    """An exported file is the model alone: what dlcli does around it is said."""
    from dlcli.cli.export import _preprocessing

    saved = {
        "config": {"divide_by": 16, "maxlen": None, "positive": None},
        "state": {"x": {"input": {}}, "y": {}, "classes": {"out": ["a", "b"]}},
    }
    assert _preprocessing(saved) == "data.preprocess.divide_by, feature scaling, class names"
    assert _preprocessing({"config": {"positive": None}, "state": {}}) == ""


def test_a_mixed_precision_run_is_honoured_by_reload_evaluate_and_onnx(cli, in_tmp):
    """train.precision is saved with the run: the reloaded model computes as it trained (hidden layers
    in bfloat16, outputs in float32), and its ONNX file, which onnxruntime runs in float32, says so."""
    import numpy as np

    from dlcli.runs.load import open_run

    pytest.importorskip("onnxruntime")
    base = ["-q", "train", "recipe=digits_mlp", "data.limit=200", "train.epochs=2", "train.batch_size=32", "seed=3"]
    runs = {}
    for precision in ("float32", "mixed_bfloat16"):
        code, out, err = cli(*base, f"train.precision={precision}", f"run.name={precision}")
        assert code == 0, err
        runs[precision] = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    losses = {p: [float(row["loss"]) for row in csv.DictReader((d / "history.csv").open())] for p, d in runs.items()}
    np.testing.assert_allclose(losses["mixed_bfloat16"], losses["float32"], rtol=2e-2)  # near, not equal
    assert not np.array_equal(losses["mixed_bfloat16"], losses["float32"])  # the policy took effect

    bf16 = runs["mixed_bfloat16"]
    opened = open_run(bf16)
    assert sorted({layer.dtype_policy.name for layer in opened.model.layers[1:]}) == ["float32", "mixed_bfloat16"]
    assert opened.model.predict(np.zeros((3, 64), "float32"), verbose=0).dtype == np.float32
    code, _, err = cli("evaluate", bf16)
    assert code == 0, err
    code, out, err = cli("export", bf16, "--format", "onnx", "-o", "bf16.onnx")
    assert code == 0, err
    assert "the ONNX model computes in float32" in out and "parity: max |keras - onnx|" in out
    assert "its predictions differ from the run's model by up to" in " ".join(out.split())


def test_onnx_outputs_are_named_as_the_models_outputs(tmp_path):
    """The exporter names them `softmax_out_0`, ... in the order Keras flattens the outputs (a dict's
    by sorted key): renamed, each holds the values of the output it is named for."""
    onnxruntime = pytest.importorskip("onnxruntime")
    import keras
    import numpy as np

    from dlcli import export

    x = keras.Input((4,), name="x")
    model = keras.Model(x, {"kind": keras.layers.Dense(3, activation="softmax")(x), "amount": keras.layers.Dense(1)(x)})
    sample = {"x": np.random.default_rng(0).random((8, 4)).astype("float32")}
    export.export("onnx", model, tmp_path / "m.onnx", sample, 1e-5)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, sample)))
    expected = model.predict(sample["x"], verbose=0)
    assert sorted(got) == ["amount", "kind"]
    for name in got:
        np.testing.assert_allclose(got[name], expected[name], atol=1e-5)
