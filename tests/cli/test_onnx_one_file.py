"""An ONNX export is one self-contained file: copied alone to another directory, it runs and agrees with Keras."""

import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_onnx_file_copied_alone_runs_with_parity(cli, in_tmp):
    onnxruntime = pytest.importorskip("onnxruntime")
    # A 64 x 5000 kernel (1.3 MB): the exporter spills tensors over 1 MB to a .data file beside the model.
    code, out, err = cli("-q", "train", "recipe=digits_mlp", "model.nodes.dense1.units=5000", "--smoke")
    assert code == 0, err
    run = in_tmp / out.strip().splitlines()[-1].removeprefix("run: ")
    (in_tmp / "export").mkdir()
    code, out, err = cli("export", run, "--format", "onnx", "-o", "export/m.onnx")
    assert code == 0, err
    assert sorted(p.name for p in (in_tmp / "export").iterdir()) == ["m.onnx"]  # no hidden .data beside it
    (in_tmp / "elsewhere").mkdir()
    shutil.copy(in_tmp / "export" / "m.onnx", in_tmp / "elsewhere" / "m.onnx")
    session = onnxruntime.InferenceSession(str(in_tmp / "elsewhere" / "m.onnx"))
    x = np.random.default_rng(0).random((16, 64)).astype("float32")
    import keras

    expected = keras.saving.load_model(run / "model.keras").predict(x, verbose=0)
    (got,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, expected, atol=1e-5)
