"""A K-fold run cut short (Ctrl-C) before a fold's own run existed still says what is saved and how to resume."""

import pytest


def _ctrl_c_while_building(monkeypatch):
    """Ctrl-C raises KeyboardInterrupt wherever the main thread is: here, while the fold's model is built."""
    from dlcli import lifecycle

    def build(prepared):
        raise KeyboardInterrupt

    monkeypatch.setattr(lifecycle, "build", build)


@pytest.mark.parametrize("ensemble", [False, True], ids=["kfold", "kfold-ensemble"])
def test_a_kfold_run_cut_short_before_its_first_fold_says_how_to_resume(cli, in_tmp, monkeypatch, ensemble):
    _ctrl_c_while_building(monkeypatch)
    args = ["train.kfold=2", *(["train.ensemble=2"] if ensemble else [])]
    code, _, err = cli("-q", "train", "recipe=digits_mlp", "data.limit=100", "train.epochs=1", *args)
    (parent,) = (in_tmp / "outputs" / "digits_mlp").iterdir()
    parent = parent.relative_to(in_tmp)
    said = " ".join(err.split())
    assert code == 130 and sorted(p.name for p in (in_tmp / parent).iterdir()) == ["config.yaml", "overrides.yaml"]
    assert f"error: interrupted before fold 1 of 2 trained: {parent} holds its config, no fold yet" in said
    resume = f"hint: resume with: dlcli train --resume {parent}"
    combine = f"; then, to finish the ensemble: dlcli ensemble {parent} --weights equal --name digits_mlp-ensemble"
    assert said.endswith(resume + (combine if ensemble else "")), said
