"""Third-party error text is read in one place (dlcli.foreign), and problems carry where a value came from."""

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from dlcli import export, foreign
from dlcli.config import schema
from dlcli.config.compose import _omegaconf_problem, _override_problem, _source, blaming_overrides
from dlcli.config.recipes import Recipe
from dlcli.data import sources
from dlcli.errors import COMMAND_LINE, ConfigError, Origin, Problem


@pytest.mark.parametrize("known", foreign.KNOWN.values(), ids=list(foreign.KNOWN))
def test_every_known_pattern_still_reads_its_example(known):
    assert known.pattern.search(known.example), f"{known.library}'s text for {known.code!r} is no longer recognised"


@pytest.mark.parametrize(
    "origin, rendered",
    [
        (None, "error: train.epochs: expected an integer, got 'abc'"),
        (COMMAND_LINE, "error: train.epochs: expected an integer, got 'abc' (set on the command line)"),
        (Origin("recipe", "/x/mine.yaml"), "error: train.epochs: expected an integer, got 'abc' (in /x/mine.yaml)"),
        (Origin("group", "data/mine"), "error: train.epochs: expected an integer, got 'abc' (in config data/mine)"),
    ],
)
def test_render_puts_the_origin_after_the_message_as_before(origin, rendered):
    problem = Problem("train.epochs", "expected an integer, got 'abc'", origin=origin, code="wrong_type")
    assert problem.render() == rendered
    assert Problem(problem.key, problem.message, "use 3", origin).render() == rendered + "\nhint: use 3"


def test_blaming_overrides_sets_the_origin_once_and_leaves_the_message_alone():
    with pytest.raises(ConfigError) as caught, blaming_overrides(["train.epochs=0", "data=npz"]):
        raise ConfigError(
            [
                Problem("train.epochs", "expected a positive integer, got 0"),
                Problem("data.path", "no such file"),  # data=npz picks an option: its values are defaults
                Problem("train.batch_size", "too big", origin=Origin("recipe", "r.yaml")),
            ]
        )
    epochs, path, batch = caught.value.problems
    assert (epochs.message, epochs.origin) == ("expected a positive integer, got 0", COMMAND_LINE)
    assert path.origin is None
    assert batch.origin == Origin("recipe", "r.yaml")


@pytest.mark.parametrize(
    "message, expected",
    [
        ("\x1b[1mbold\x1b[0m reason\nmore", "bold reason"),
        ("\n\n  indented first  \nsecond", "indented first"),
        ("", "RuntimeError"),
        ("\x1b[0m\n  \n", "RuntimeError"),
    ],
)
def test_first_line(message, expected):
    assert foreign.first_line(RuntimeError(message)) == expected


def test_summary_joins_the_first_lines_and_caps_them():
    assert foreign.summary(ValueError("one\n\n two \nthree\nfour")) == "one two three"
    assert foreign.summary(ValueError("x" * 500)) == "x" * 400
    assert foreign.summary(ValueError("")) == "ValueError"


def _validation_error() -> ValidationError:
    cfg = OmegaConf.structured(schema.Config)
    try:
        cfg.train.epochs = "abc"
    except ValidationError as exc:
        return exc
    raise AssertionError("OmegaConf took a string for an integer")


class MaxPooling2D:
    name = "pool1"


class _Model:
    layers = [MaxPooling2D()]


def _unrunnable(text: str) -> Problem:
    return export._unrunnable(_Model(), RuntimeError(text)).problems[0]


HYDRA_APPEND = (
    "Could not append to config. An item is already at 'train.epochs'.\n"
    "Either remove + prefix: 'train.epochs=3'\nOr add a second + to add or override 'train.epochs': '++train.epochs=3'\n"
)
NO_NETWORK = (
    "URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz:"
    " None -- [Errno -3] Temporary failure in name resolution"
)
ORT_NODE = (
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MaxPool node."
    " Name:'node_MaxPool_3' Status Message: kernel shape is out of range."
)
WHAT_ORT_GAVE = "the ONNX exporter produced a model onnxruntime cannot run"

# Each known foreign error -> the Problem dlcli makes of it: (key, message, hint or None, origin, code).
CASES = [
    (
        "hydra-already-set",
        lambda: _override_problem(ConfigCompositionException(HYDRA_APPEND), None),
        (
            "train.epochs",
            "already set, so it cannot be added",
            "drop the '+': train.epochs=VALUE",
            COMMAND_LINE,
            "already_set",
        ),
    ),
    (
        "hydra-nothing-to-delete",
        lambda: _override_problem(
            ConfigCompositionException("Could not delete from config. 'train.epoch' does not exist."), None
        ),
        (
            "train.epoch",
            "nothing to delete",
            "did you mean 'epochs'? valid keys: epochs, batch_size, shuffle, evaluate_test, kfold, fold, ensemble, precision, steps_per_execution",
            COMMAND_LINE,
            "unknown_key",
        ),
    ),
    (
        "hydra-undeletable",
        lambda: _override_problem(
            ConfigCompositionException("Could not delete from config. 'train.epochs' does not exist."), None
        ),
        (
            "train.epochs",
            "is part of the schema and cannot be deleted",
            "give it another value: train.epochs=VALUE",
            COMMAND_LINE,
            "undeletable",
        ),
    ),
    (
        "hydra-unrecognised",
        lambda: _override_problem(ConfigCompositionException("\nSomething new from Hydra\ndetails"), None),
        ("overrides", "Something new from Hydra", None, None, "foreign"),
    ),
    (
        "omegaconf-wrong-type-on-the-command-line",
        lambda: _omegaconf_problem(_validation_error(), ["train.epochs=abc"], Origin("recipe", "r.yaml"), None),
        ("train.epochs", "expected an integer, got 'abc'", None, COMMAND_LINE, "wrong_type"),
    ),
    (
        "omegaconf-wrong-type-in-a-group-file",
        lambda: _omegaconf_problem(_validation_error(), [], Origin("group", "train/mine"), None),
        ("train.epochs", "expected an integer, got 'abc'", None, Origin("group", "train/mine"), "wrong_type"),
    ),
    (
        "keras-no-network",
        lambda: sources._cannot_download("mnist", [], Exception(NO_NETWORK)),
        ("data.source", "cannot download mnist (no network: [Errno -3] Temporary failure in name resolution)"),
    ),
    (
        "keras-download-other",
        lambda: sources._cannot_download("imdb", [], OSError("\x1b[1mdisk full\x1b[0m\nmore")),
        ("data.source", "cannot download imdb (disk full)"),
    ),
    (
        "onnxruntime-names-the-node",
        lambda: _unrunnable(ORT_NODE),
        (
            "export",
            f"{WHAT_ORT_GAVE} at its MaxPool node (layer pool1, MaxPooling2D): kernel shape is out of range;"
            " nothing was written",
        ),
    ),
    (
        "onnxruntime-preamble-only",
        lambda: _unrunnable("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x."),
        ("export", f"{WHAT_ORT_GAVE}: Got invalid dimensions for input: x; nothing was written"),
    ),
]


@pytest.mark.parametrize("make, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_known_foreign_error_becomes_this_problem(make, expected):
    problem = make()
    assert (problem.key, problem.message, problem.hint, problem.origin, problem.code)[: len(expected)] == expected


@pytest.mark.parametrize(
    "message, source",
    [
        ("In 'data/mine': ValidationError raised while composing config:\n...", Origin("group", "data/mine")),
        ("In 'recipe/mnist_dropout': ValidationError raised", Origin("recipe", "/r/mnist_dropout.yaml")),
        ("Error merging override train.epochs=abc", Origin("recipe", "/r/mnist_dropout.yaml")),
    ],
)
def test_the_file_hydra_was_merging(message, source):
    recipe = Recipe("mnist_dropout", "/r/mnist_dropout.yaml", "")
    assert _source(ConfigCompositionException(message), recipe) == source


def test_keras_text_drops_the_wrapper_lines_and_the_escapes():
    exc = ValueError(
        "\x1b[1mException encountered when calling Dense.call().\x1b[0m\n\n"
        "\x1b[1mInput 0 of layer 'dense' is incompatible with the layer: expected axis -1 to have value 8\x1b[0m\n\n"
        "Arguments received by Dense.call():\n  • inputs=jnp.ndarray(shape=(2, 3), dtype=float32)"
    )
    assert (
        foreign.keras_text(exc)
        == "Input 0 of layer 'dense' is incompatible with the layer: expected axis -1 to have value 8"
    )
    assert foreign.keras_text(ValueError("y" * 400)) == "y" * 297 + "..."
    assert foreign.shape_mismatch("Arguments `target` and `output` must have the same rank (ndim)")
    assert not foreign.shape_mismatch("division by zero")


def test_sklearn_stratify_reason_drops_the_list_of_classes():
    example = foreign.KNOWN["too_few_members"].example
    assert foreign.sklearn_stratify_reason(ValueError(example)) == example.split(" Classes with")[0]
    assert foreign.sklearn_stratify_reason(ValueError("other")) == "other"


def test_snake_case_and_plain():
    assert [
        foreign.snake_case(n)
        for n in (
            "Dense",
            "BinaryCrossentropy",
            "binary_crossentropy",
            "LSTM",
            "Conv2D",
            "MaxPooling2D",
            "Conv2DTranspose",
        )
    ] == ["dense", "binary_crossentropy", "binary_crossentropy", "lstm", "conv2d", "max_pooling2d", "conv2d_transpose"]
    cfg = OmegaConf.create({"a": 1, "b": "${a}", "c": [1, 2]})
    assert foreign.plain(cfg) == {"a": 1, "b": "${a}", "c": [1, 2]}
    assert foreign.plain(cfg, resolve=True) == {"a": 1, "b": 1, "c": [1, 2]}
    assert foreign.plain([1, 2]) == [1, 2]


def test_the_translator_imports_no_heavy_library():
    probe = "import sys, dlcli.foreign; print(sorted(m for m in ('jax', 'keras', 'omegaconf', 'hydra') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"
