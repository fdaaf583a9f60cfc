"""`dlcli predict --batch-size`: a large input is read, predicted and written a chunk at a time, with
the numbers a whole-file read gives, and never held whole in memory."""

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from tests.evaluate.conftest import train

AUTOENCODER = """
model:
  inputs: {x: {shape: [64]}}
  nodes:
    code: {class: Dense, units: 8, activation: relu}
    pixels: {class: Dense, units: 64}
  outputs:
    pixels: {loss: mse}
data: {source: digits, target: input, limit: 200}
train: {epochs: 1, batch_size: 32}
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """sklearn's 1797 digits as CSVs with a header and as an .npz: more rows than one chunk holds."""
    from sklearn.datasets import load_digits

    folder = tmp_path_factory.mktemp("stream")
    digits = load_digits()
    frame = pd.DataFrame(digits.data, columns=[f"pixel_{i}" for i in range(64)]).assign(digit=digits.target)
    (folder / "train").mkdir()
    frame[:1000].to_csv(folder / "train" / "train.csv", index=False)
    frame[1000:].to_csv(folder / "test.csv", index=False)
    frame.to_csv(folder / "all.csv", index=False)
    np.savez(folder / "all.npz", x=digits.data, y=digits.target)
    np.savez_compressed(folder / "fortran.npz", x=np.asfortranarray(digits.data), y=digits.target)  # as pandas gives
    return folder


@pytest.fixture(scope="module")
def run(cli_package, runs, files):
    """A digits classifier trained from streamed CSV files (data.stream=true), its test split a given file."""
    return train(
        cli_package,
        runs,
        "recipe=digits_mlp",
        "data.source=csv",
        f"data.path={files / 'train'}",
        f"data.test_path={files / 'test.csv'}",
        "data.stream=true",
    )


def _predict(cli, run, *args):
    code, out, err = cli("predict", run, "--rows", "3", "--force", *args)
    assert code == 0, err
    return out


def _scores(out: str) -> list[str]:
    """The lines a user reads the result from: count, table, scores, summaries; not the file written."""
    return [line for line in out.splitlines() if not line.startswith("wrote ")]


def test_chunked_predictions_equal_the_whole_files(cli_package, files, run):
    whole_out = _predict(cli_package, run, "-i", files / "all.csv", "-o", files / "whole.csv", "--batch-size", "5000")
    whole = pd.read_csv(files / "whole.csv")
    assert len(whole) == 1797 and "predictions: accuracy" in whole_out
    # 100 does not divide 1797: chunks of 1100 and 697 rows, batches of 100 and a last one of 97
    for given, written in (("all.csv", "c.csv"), ("all.npz", "n.npz"), ("fortran.npz", "f.csv"), ("all.csv", "c.npz")):
        out = _predict(cli_package, run, "-i", files / given, "-o", files / written, "--batch-size", "100")
        assert _scores(out) == [line.replace("all.csv", given) for line in _scores(whole_out)]
        if written.endswith(".csv"):
            chunked = pd.read_csv(files / written)
        else:
            with np.load(files / written) as saved:  # no pickle needed
                chunked = pd.DataFrame({k: saved[k] for k in saved.files})
        assert list(chunked.columns) == list(whole.columns)
        assert (chunked.predictions == whole.predictions).all()
        assert (chunked.predictions_true == whole.predictions_true).all()
        np.testing.assert_allclose(chunked.filter(like="_prob_"), whole.filter(like="_prob_"), rtol=1e-5, atol=1e-7)

    # At the same batch size, the numbers of reading the file whole, bit for bit (the batches are the same).
    from dlcli.data import for_model
    from dlcli.runs.load import open_run

    opened = open_run(run)
    _, features = opened.samples(files / "all.csv")
    expected = opened.model.predict(for_model(features), batch_size=100, verbose=0)
    with np.load(files / "c.npz") as saved:
        np.testing.assert_array_equal(np.stack([saved[f"predictions_prob_{i}"] for i in range(10)], axis=1), expected)


def test_a_streamed_split_is_predicted_batch_by_batch_as_its_file(cli_package, files, run):
    split = _predict(cli_package, run, "--split", "test", "-o", files / "split.csv", "--batch-size", "64")
    given = _predict(cli_package, run, "-i", files / "test.csv", "-o", files / "given.csv", "--batch-size", "64")
    assert "797 predictions of the test split" in split
    assert _scores(split)[1:] == _scores(given)[1:]
    assert (files / "split.csv").read_bytes() == (files / "given.csv").read_bytes()


def test_a_shaped_output_is_written_chunk_by_chunk(cli_package, runs, files):
    (files / "ae.yaml").write_text(AUTOENCODER)
    autoencoder = train(cli_package, runs, f"recipe={files / 'ae.yaml'}")
    outs = {
        size: _predict(
            cli_package, autoencoder, "-i", files / "all.npz", "-o", files / f"ae{size}.npz", "--batch-size", size
        )
        for size in ("100", "5000")
    }
    assert "pixels: shape (1797, 64)" in outs["100"] and "pixels: mae" in outs["100"]
    assert _scores(outs["100"]) == _scores(outs["5000"])
    with np.load(files / "ae100.npz") as chunked, np.load(files / "ae5000.npz") as whole:
        assert chunked.files == whole.files == ["pixels", "pixels_true"]
        assert chunked["pixels"].shape == (1797, 64)
        np.testing.assert_array_equal(chunked["pixels_true"], whole["pixels_true"])
        np.testing.assert_allclose(chunked["pixels"], whole["pixels"], rtol=1e-5, atol=1e-5)


def test_a_large_csv_is_never_held_whole(cli_package, files, run):
    """tracemalloc traces numpy's and pandas' arrays: predicting in chunks peaks far below the file's
    array, where reading it whole (as predict did before) peaks above it."""
    from dlcli.runs.load import open_run

    rng = np.random.default_rng(0)
    big = files / "big.csv"
    frame = pd.DataFrame(rng.integers(0, 17, (40_000, 64)), columns=[f"pixel_{i}" for i in range(64)])
    frame.to_csv(big, index=False)
    np.savez(files / "big.npz", x=frame.to_numpy())  # Fortran order, as pandas gives: no rows to stream from
    size = 40_000 * 64 * 8  # float64, as the features are read

    tracemalloc.start()
    try:
        peaks = {}
        for name in ("big.csv", "big.npz"):
            tracemalloc.reset_peak()
            out = _predict(cli_package, run, "-i", files / name, "-o", files / "out.npz", "--batch-size", "256")
            assert "40000 predictions of" in out
            peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        open_run(run).samples(big)
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with np.load(files / "out.npz") as written:
        assert written["predictions"].shape == (40_000,)
    assert whole > size
    for name, peak in peaks.items():
        assert peak < size / 3, f"peak {peak / 1e6:.1f} MB predicting a {size / 1e6:.1f} MB {name}"


@pytest.mark.parametrize(
    "name, spoil",
    [
        (
            "text.csv",
            lambda frame: frame.astype({"pixel_5": object}).assign(
                pixel_5=lambda f: f.pixel_5.where(f.index != 1500, "abc")
            ),
        ),
        ("nan.csv", lambda frame: frame.assign(pixel_7=frame.pixel_7.where(~frame.index.isin([30, 1500, 1700])))),
        ("nan.npz", None),
    ],
)
def test_a_bad_row_in_a_late_chunk_leaves_nothing_behind(cli_package, files, run, name, spoil):
    frame = pd.read_csv(files / "all.csv")
    if spoil is None:
        x = frame.filter(like="pixel_").to_numpy()
        x[1600, 4] = np.nan
        np.savez(files / name, x=x)
    else:
        spoil(frame).to_csv(files / name, index=False)
    errors = []
    for size in ("100", "5000"):  # the bad row is in the second chunk, or in the only one
        out_dir = files / f"out-{name}-{size}"
        out_dir.mkdir()
        code, _, err = cli_package("predict", run, "-i", files / name, "-o", out_dir / "p.csv", "--batch-size", size)
        assert code == 2, err
        assert list(out_dir.iterdir()) == []  # no output, no temporary file
        errors.append(err)
    assert errors[0] == errors[1]
    assert name in errors[0] and (
        "(data row 1501 holds 'abc')" in errors[0] if name == "text.csv" else "NaN" in errors[0]
    )
    if name == "nan.csv":
        assert "'pixel_7' (3 NaN), the first in data row 31" in errors[0]  # every bad row counted, not one chunk's


def test_evaluate_scores_a_large_file_a_chunk_at_a_time(cli_package, files, run):
    """`evaluate --input --batch-size`: the same report as one whole chunk; reading and scoring the file
    (Keras' metrics, then the predictions for the report) peaks far below the file's array."""
    from dlcli import foreign
    from dlcli.lifecycle import evaluate_split
    from dlcli.runs.load import open_run

    shown = {}
    for size in ("5000", "100"):
        code, out, err = cli_package("evaluate", run, "-i", files / "all.csv", "--batch-size", size)
        assert code == 0 and "Traceback" not in err and "ran out of data" not in err, err
        shown[size] = [line for line in out.splitlines() if not line.startswith("wrote ")]
    assert shown["100"] == shown["5000"] and any("1797 samples" in line for line in shown["100"])

    rng = np.random.default_rng(1)
    big = files / "big-labelled.csv"
    pd.DataFrame(rng.integers(0, 17, (40_000, 64)), columns=[f"pixel_{i}" for i in range(64)]).assign(
        digit=rng.integers(0, 10, 40_000)
    ).to_csv(big, index=False)
    size = 40_000 * 64 * 8
    opened = open_run(run)
    tracemalloc.start()
    try:
        split = opened.labelled(big, 256)
        with foreign.generator_end_quiet():
            metrics = evaluate_split(opened.model, split, 256, opened.preprocessor())
        predicted, _ = split.predict(opened.model, 256)
        chunked = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        opened.labelled(big)
        whole = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(predicted) == 40_000 and 0 <= metrics["accuracy"] <= 1
    assert whole > size and chunked < size / 2, (chunked / 1e6, whole / 1e6)  # predictions stay: 10 a sample
