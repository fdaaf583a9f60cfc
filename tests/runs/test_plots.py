import matplotlib.image

from dlcli.runs.plots import training_curves


def _image(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return matplotlib.image.imread(path)


def test_one_figure_per_metric_train_against_val(tmp_path):
    history = {
        "loss": [1.0, 0.5],
        "val_loss": [1.1, 0.7],
        "accuracy": [0.5, 0.8],
        "val_accuracy": [0.4, 0.7],
        "learning_rate": [0.1, 0.05],
    }
    written = training_curves(history, tmp_path)
    assert sorted(p.name for p in written) == ["accuracy.png", "learning_rate.png", "loss.png"]
    height, width, _ = _image(tmp_path / "loss.png").shape
    assert (height, width) == (320, 400)


def test_one_figure_per_output_for_multi_output_models(tmp_path):
    history = {
        "loss": [2.0, 1.0],
        "main_loss": [1.5, 0.8],
        "aux_loss": [0.5, 0.2],
        "main_accuracy": [0.5, 0.6],
        "aux_mae": [0.3, 0.2],
        "aux_val_like_name_mse": [0.1, 0.1],
    }
    history.update({f"val_{k}": v for k, v in list(history.items())})
    written = training_curves(history, tmp_path, outputs=["main", "aux"])
    assert sorted(p.name for p in written) == ["aux.png", "loss.png", "main.png"]
    panels = {name: _image(tmp_path / f"{name}.png").shape[1] // 400 for name in ("loss", "main", "aux")}
    assert panels == {"loss": 1, "main": 2, "aux": 3}  # loss and metrics of each output side by side
