"""Other libraries' errors, read in one place.

Hydra, OmegaConf, Keras, onnxruntime, pandas and the OS report problems as
exception text. This module is the only place dlcli reads that text:

* `first_line(exc)` (and `summary`) show a foreign error in a line;
* `KNOWN` is the table of the messages dlcli recognises, each with a stable
  code, the library whose text it is, the pattern, and a verbatim example (the
  tests check every pattern still reads its example). The functions below it
  are what call sites use; the Problem keys and hints stay with the call sites,
  which know what the user was doing.

Two other libraries' conventions live here too: Keras-style snake_case names
and OmegaConf containers as plain values. Nothing here imports JAX or Keras
(OmegaConf is imported only when `plain` is called), so it is safe at any layer.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def strip_ansi(text: str) -> str:
    """Text without terminal escapes (Keras makes its messages bold with `\\x1b[1m`)."""
    return _ANSI.sub("", text)


def lines(exc: BaseException | str) -> list[str]:
    """The non-empty lines of an error's message, stripped, without terminal escapes."""
    return [line.strip() for line in strip_ansi(str(exc)).splitlines() if line.strip()]


def first_line(exc: BaseException) -> str:
    """The first non-empty line of a foreign error's message, without terminal escapes;
    the exception's class name when the message is empty."""
    found = lines(exc)
    return found[0] if found else type(exc).__name__


def summary(exc: BaseException, n: int = 3, limit: int = 400) -> str:
    """The first `n` non-empty lines joined into one, at most `limit` characters (else the class name)."""
    return " ".join(lines(exc)[:n])[:limit] or type(exc).__name__


# --- the messages dlcli recognises ----------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """A foreign message dlcli recognises: `code` names what it means, `example` is one verbatim."""

    code: str
    library: str
    pattern: re.Pattern[str]
    example: str


KNOWN: dict[str, Known] = {
    k.code: k
    for k in (
        Known(
            "already_set",  # `+key=value` on a key the config has
            "hydra",
            re.compile(r"An item is already at '(?P<key>[^']+)'"),
            "Could not append to config. An item is already at 'train.epochs'.",
        ),
        Known(
            "nothing_to_delete",  # `~key` on a key the config lacks
            "hydra",
            re.compile(r"Could not delete from config. '(?P<key>[^']+)' does not exist"),
            "Could not delete from config. 'train.epoch' does not exist.",
        ),
        Known(
            "merging_config",  # the config file Hydra was merging when a value failed
            "hydra",
            re.compile(r"In '(?P<path>[^']+)'"),  # at the start of the message: matched, not searched
            "In 'data/mine': ValidationError raised while composing config:",
        ),
        Known(
            "not_converted",  # a value the schema's type does not take
            "omegaconf",
            re.compile(r"converted to (?P<type>\w+)"),
            "Value 'abc' of type 'str' could not be converted to Integer",
        ),
        Known(
            "value",  # the offending value, quoted in OmegaConf's messages
            "omegaconf",
            re.compile(r"Value '(?P<value>.*?)'"),
            "Value 'abc' of type 'str' could not be converted to Integer",
        ),
        Known(
            "not_optional",  # null given for a key the schema requires
            "omegaconf",
            re.compile(r"field '(?P<key>[^']+)' is not Optional"),
            "field 'train.epochs' is not Optional",
        ),
        Known(
            "not_a_bool",  # a boolean key given a word that is not one
            "omegaconf",
            re.compile(r"Value '(?P<value>.*?)' is not a valid bool"),
            "Value 'maybe' is not a valid bool (type str)",
        ),
        Known(
            "not_in_enum",  # an Enum key given another string
            "omegaconf",
            re.compile(r"Invalid value '(?P<value>.*?)', expected one of \[(?P<options>[^\]]*)\]"),
            "Invalid value 'stdandard', expected one of [none, standard, minmax]",
        ),
        Known(
            "not_a_list",  # a list key given a scalar
            "omegaconf",
            re.compile(r"Invalid value assigned: (?P<type>\w+) is not a ListConfig, list or tuple"),
            "Invalid value assigned: str is not a ListConfig, list or tuple.",
        ),
        Known(
            "not_a_mapping",  # a mapping key given a scalar or a list
            "omegaconf",
            re.compile(r"Cannot assign (?P<type>\w+) to Dict|Cannot merge DictConfig with (?P<other>\w+)"),
            "Cannot assign int to Dict[str, Any]",
        ),
        Known(
            "not_a_section",  # a scalar or a list where a section of the schema goes (`data: [1, 2]`)
            "omegaconf",
            re.compile(r"Merge error: (?P<type>\w+) is not a subclass of (?P<schema>\w+)"),
            "Merge error: list is not a subclass of DataConfig. value: [1, 2]",
        ),
        Known(
            "interpolation_key",  # ${nope}: no such key
            "omegaconf",
            re.compile(r"Interpolation key '(?P<key>[^']+)' not found"),
            "Interpolation key 'nope' not found",
        ),
        Known(
            "resolver",  # ${name:...} with no such resolver
            "omegaconf",
            re.compile(r"Unsupported interpolation type (?P<name>\S+)"),
            "Unsupported interpolation type python_eval",
        ),
        Known(
            "recursive",  # a value that refers to itself, directly or through others
            "omegaconf",
            re.compile(r"Recursive interpolation detected"),
            "Recursive interpolation detected",
        ),
        Known(
            "env_missing",  # ${oc.env:VAR} with VAR unset
            "omegaconf",
            re.compile(r"Environment variable '(?P<var>[^']+)' not found"),
            "InterpolationResolutionError: KeyError raised while resolving interpolation:"
            " \"Environment variable 'NOPE' not found\"",
        ),
        Known(
            "duplicate_group",  # a group chosen twice: `+callbacks=x`, or a recipe's defaults without `override`
            "hydra",
            re.compile(
                r"Multiple values for (?P<group>[\w/.]+)\. To override a value use 'override (?P<choice>[^']+)'"
            ),
            "Multiple values for callbacks. To override a value use 'override callbacks: early_stopping'",
        ),
        Known(
            "cannot_serve",  # process 0 of several cannot open the coordinator's port
            "jax",
            re.compile(r"Failed to start RPC server"),
            "UNKNOWN: Failed to start RPC server",
        ),
        Known(
            "no_such_group",  # a recipe's `- override /GROUP: option` naming a group the config has not
            "hydra",
            re.compile(r"Could not override '(?P<group>[^']+)'\. No match in the defaults list"),
            "In 'recipe/mine': Could not override 'modle'. No match in the defaults list.",
        ),
        Known(
            "defaults_not_list",  # a recipe's `defaults:` that is not a list
            "hydra",
            re.compile(r"Invalid defaults list in '(?P<config>[^']+)', defaults must be a list"),
            "Invalid defaults list in 'recipe/mine', defaults must be a list (got int)",
        ),
        Known(
            "parse_preamble",  # Hydra's first line of an override it cannot parse, and its link
            "hydra",
            re.compile(r"^Error parsing override '.*'$|^See https://hydra\.cc/|^\^$"),
            "Error parsing override 'train.epochs=1)'",
        ),
        Known(
            "lexer",  # a character Hydra's override lexer does not take; the next line has a caret under it
            "hydra",
            re.compile(r"^LexerNoViableAltException: (?P<text>.*)$"),
            "LexerNoViableAltException: train..epochs=3",
        ),
        Known(
            "no_network",  # keras.utils.get_file could not download
            "keras",
            re.compile(r"fetch failure"),
            "URL fetch failure on https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz:"
            " None -- [Errno -3] Temporary failure in name resolution",
        ),
        Known(
            "keras_wrapper",  # Keras' lines around a layer's own error, which say nothing of it
            "keras",
            re.compile(r"Exception encountered when calling|Arguments received by|•"),  # line starts
            "Exception encountered when calling Dense.call().",
        ),
        Known(
            "shape_mismatch",  # Keras (or JAX) refusing data of the wrong shape or type
            "keras",
            re.compile(r"shape|dimension|rank|dtype|broadcast|incompatible", re.I),
            "Arguments `target` and `output` must have the same rank (ndim). Received: target.shape=(None,)",
        ),
        Known(
            "sharding_indivisible",  # a layout rule splitting a variable's axis over a mesh axis it does not divide by
            "jax",
            re.compile(
                r"array axis (?P<axis>\d+) is partitioned (?P<parts>\d+) times,"
                r" but the dimension size is (?P<size>\d+) \(full shape: (?P<shape>\([^)]*\))"
            ),
            "Sharding NamedSharding(mesh=Mesh('batch': 1, 'model': 2, axis_types=(Auto, Auto)), spec=P(None, 'model'),"
            " memory_kind=device) implies that array axis 1 is partitioned 2 times, but the dimension size is 33"
            " (full shape: (64, 33), per-dimension tiling factors: [1, 2] should evenly divide the shape)",
        ),
        Known(
            "too_few_members",  # scikit-learn then lists every rare class: not one screen
            "scikit-learn",
            re.compile(r" Classes with too few members are:"),
            "The least populated classes in y have only 1 member, which is too few. The minimum number of groups"
            " for any class cannot be less than 2. Classes with too few members are: [1]",
        ),
        Known(
            "onnx_node",  # onnxruntime names the operator that failed
            "onnxruntime",
            re.compile(r"running (?P<op>\w+) node"),
            "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running MaxPool node."
            " Name:'node_MaxPool_3' Status Message: kernel shape is out of range.",
        ),
        Known(
            "onnx_preamble",  # onnxruntime's prefix before the reason
            "onnxruntime",
            re.compile(r"^.*Status Message: |^\[ONNXRuntimeError\] : \d+ : \w+ : "),
            "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: x",
        ),
    )
}


def _search(code: str, text: str) -> re.Match[str] | None:
    return KNOWN[code].pattern.search(text)


def hydra_override(exc: BaseException) -> tuple[str, str] | None:
    """("already_set" | "nothing_to_delete", the dotted key) for Hydra's refusals of `+key`/`~key`."""
    first = first_line(exc)
    for code in ("already_set", "nothing_to_delete"):
        found = _search(code, first)
        if found:
            return code, found["key"]
    return None


def hydra_merging(exc: BaseException) -> str | None:
    """The config Hydra was merging when composing failed ("data/mine", "recipe/NAME"), if it says."""
    found = KNOWN["merging_config"].pattern.match(str(exc))
    return found["path"] if found else None


_TYPE_WORDS = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "a string"}


def omegaconf_expected(exc: BaseException) -> tuple[str, str | None] | None:
    """(what the schema wanted, in words; the value given, if quoted) for OmegaConf's conversion errors."""
    text = str(exc)
    expected = _search("not_converted", text)
    if expected is None:
        return None
    value = _search("value", text)
    return _TYPE_WORDS.get(expected["type"], expected["type"]), value["value"] if value else None


def omegaconf_refusal(exc: BaseException) -> tuple[str, dict[str, str]] | None:
    """(code, its named parts) for OmegaConf's refusals of a value the schema does not take:
    not_optional, not_a_bool, not_in_enum, not_a_list, not_a_mapping, not_a_section."""
    text = first_line(exc)
    for code in ("not_optional", "not_a_bool", "not_in_enum", "not_a_list", "not_a_mapping", "not_a_section"):
        found = _search(code, text)
        if found:
            return code, {k: v for k, v in found.groupdict().items() if v is not None}
    return None


def interpolation(exc: BaseException) -> tuple[str, str] | None:
    """("interpolation_key" | "resolver" | "env_missing" | "recursive", the name it gives, or "")
    for OmegaConf's failures to resolve `${...}`; None for others."""
    text = str(exc)
    for code, group in (
        ("interpolation_key", "key"),
        ("resolver", "name"),
        ("env_missing", "var"),
        ("recursive", None),
    ):
        found = _search(code, text)
        if found:
            return code, found[group] if group else ""
    return None


def hydra_duplicate_group(exc: BaseException) -> tuple[str, str] | None:
    """(group, 'group: option') when Hydra refuses a group chosen twice without `override`."""
    found = _search("duplicate_group", str(exc))
    return (found["group"], found["choice"]) if found else None


def jax_cannot_serve(exc: BaseException) -> bool:
    """Whether JAX's coordinator service could not start (its port taken, or not this machine's address)."""
    return _search("cannot_serve", str(exc)) is not None


def hydra_no_such_group(exc: BaseException) -> str | None:
    """The group a recipe's `- override /GROUP: ...` names that the config has not, when Hydra says so."""
    found = _search("no_such_group", str(exc))
    return found["group"] if found else None


def hydra_defaults_not_list(exc: BaseException) -> str | None:
    """The config ('recipe/NAME') whose `defaults:` is not a list, when Hydra says so."""
    found = _search("defaults_not_list", str(exc))
    return found["config"] if found else None


def hydra_parse_reason(exc: BaseException) -> str:
    """Why Hydra could not parse an override, without its preamble, caret line and link."""
    kept = []
    for line in lines(exc):
        if KNOWN["parse_preamble"].pattern.search(line):
            continue
        lexer = KNOWN["lexer"].pattern.match(line)
        kept.append("a character the override syntax does not take" if lexer else line)
    return "; ".join(kept) or type(exc).__name__


def no_network(exc: BaseException) -> str | None:
    """'no network: <the OS's reason>' when Keras could not download, else None."""
    text = str(exc)
    if _search("no_network", text) is None:
        return None
    return "no network: " + text.rsplit("-- ", 1)[-1].strip()[:80]


def keras_text(exc: BaseException, limit: int = 300) -> str:
    """The informative line of a Keras error: Keras wraps a layer's error in 'Exception encountered
    when calling ...' and 'Arguments received by ...' lines, and makes it bold with ANSI codes."""
    wrapper = KNOWN["keras_wrapper"].pattern
    kept = [line for line in lines(exc) if not wrapper.match(line)]
    text = kept[0] if kept else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shape_mismatch(text: str) -> bool:
    """Whether a Keras error's text is about shapes or dtypes (the labels' form, most often)."""
    return _search("shape_mismatch", text) is not None


def sharding_indivisible(exc: BaseException) -> tuple[str, int] | None:
    """(what JAX could not split, the device count) when a layout rule splits a variable's axis
    over more devices than it divides by, else None."""
    found = _search("sharding_indivisible", str(exc))
    if found is None:
        return None
    axis, parts, size = int(found["axis"]), int(found["parts"]), int(found["size"])
    return (
        f"its variable of shape {found['shape']} cannot be split over {parts} devices along axis {axis} ({size} does not divide by {parts})",
        parts,
    )


def sklearn_stratify_reason(exc: BaseException) -> str:
    """scikit-learn's refusal to stratify, without its list of every too-rare class."""
    return KNOWN["too_few_members"].pattern.split(str(exc), maxsplit=1)[0]


def onnxruntime_failure(exc: BaseException) -> tuple[str, str | None]:
    """(onnxruntime's reason without its preamble, the ONNX operator it names or None)."""
    text = summary(exc)
    op = _search("onnx_node", text)
    return KNOWN["onnx_preamble"].pattern.sub("", text).rstrip("."), op["op"] if op else None


# --- other libraries' conventions ----------------------------------------------------------


@contextlib.contextmanager
def generator_end_quiet():
    """Keras warns "Your input ran out of data" whenever a Python generator of unknown length ends,
    as every generator dlcli gives it (a file scored a chunk at a time) does at its end: no news."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        yield


def snake_case(name: str) -> str:
    """`BinaryCrossentropy` -> `binary_crossentropy`, `Dense` -> `dense`: the names Keras accepts
    beside class names, and the base of Keras' default layer names."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)  # keras.src.utils.naming.to_snake_case: Conv2D -> conv2d
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def plain(value: Any, resolve: bool = False) -> Any:
    """OmegaConf containers as plain lists and dicts (interpolations resolved if `resolve`); others as given."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value, resolve=resolve) if OmegaConf.is_config(value) else value
