"""The closed option sets of the schema are Enums: OmegaConf refuses other values when
composing, consumers see plain strings, and saved configs (old ones too) load back."""

import json

import pytest
from omegaconf import OmegaConf

from dlcli.config import compose
from dlcli.config.schema import Config, DataConfig
from dlcli.data.io import InputSpec, ModelIO, OutputSpec
from dlcli.data.preprocess import Choice, Labels, Preprocessor, Scaler, Side
from dlcli.runs import rundir

OPTIONS = [
    ("scaler", Scaler),
    ("target_scaler", Scaler),
    ("labels", Labels),
    ("padding", Side),
    ("truncating", Side),
]


@pytest.mark.parametrize(("key", "choices"), OPTIONS, ids=[k for k, _ in OPTIONS])
def test_a_value_outside_the_set_exits_2_naming_the_key_and_every_valid_value(cli, in_tmp, key, choices):
    code, out, err = cli("check", "recipe=digits_mlp", f"data.preprocess.{key}=bogus")
    assert code == 2 and out == ""
    first = err.splitlines()[0]
    assert first.startswith(f"error: data.preprocess.{key}: ") and "'bogus'" in first
    assert all(c.value in first for c in choices), first
    assert not (in_tmp / "outputs").exists()


@pytest.mark.parametrize(
    ("key", "value"), [(key, c.value) for key, choices in OPTIONS for c in choices], ids=lambda v: str(v)
)
def test_every_valid_value_composes_to_its_member_which_is_its_string(key, value):
    cfg = compose("digits_mlp", [f"data.preprocess.{key}={value}"]).cfg
    got = cfg.data.preprocess[key]
    assert (
        isinstance(got, Choice)
        and got == value
        and str(got) == value
        and f"{got}" == value
        and repr(got) == repr(value)
    )
    assert f"{key}: {value}\n" in OmegaConf.to_yaml(cfg)


def test_a_saved_config_round_trips_and_an_old_one_with_plain_strings_loads(tmp_path):
    cfg = compose(
        "digits_mlp",
        ["data.preprocess.scaler=minmax", "data.preprocess.labels=one_hot", "data.preprocess.padding=post"],
    ).cfg
    (tmp_path / "config.yaml").write_text(rundir.config_yaml(cfg))
    text = (tmp_path / "config.yaml").read_text()
    assert "scaler: minmax" in text and "labels: one_hot" in text and "padding: post" in text and "Scaler" not in text
    loaded = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.load(tmp_path / "config.yaml"))
    assert OmegaConf.to_container(loaded.data.preprocess) == OmegaConf.to_container(cfg.data.preprocess)
    assert loaded.data.preprocess.scaler is Scaler.minmax and loaded.data.preprocess.truncating is Side.pre

    # written before the options were Enums: the same plain strings
    old = OmegaConf.create(
        {"data": {"preprocess": {"scaler": "standard", "target_scaler": "none", "labels": "sparse"}}}
    )
    merged = OmegaConf.merge(OmegaConf.structured(Config), old)
    assert merged.data.preprocess.scaler is Scaler.standard and merged.data.preprocess.labels is Labels.sparse


def test_the_preprocessor_keeps_plain_strings_in_what_it_saves():
    cfg = OmegaConf.merge(OmegaConf.structured(DataConfig), {"preprocess": {"scaler": "standard", "labels": "sparse"}})
    io = ModelIO([InputSpec("input", (2,), "float32")], [OutputSpec("out", (3,), "sparse_categorical_crossentropy")])
    pre = Preprocessor(OmegaConf.to_container(cfg.preprocess), io)
    assert type(pre.config["scaler"]) is str and type(pre.config["labels"]) is str
    assert json.loads(json.dumps(pre.config))["scaler"] == "standard"
