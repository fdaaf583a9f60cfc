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

import re
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


def sklearn_stratify_reason(exc: BaseException) -> str:
    """scikit-learn's refusal to stratify, without its list of every too-rare class."""
    return KNOWN["too_few_members"].pattern.split(str(exc), maxsplit=1)[0]


def onnxruntime_failure(exc: BaseException) -> tuple[str, str | None]:
    """(onnxruntime's reason without its preamble, the ONNX operator it names or None)."""
    text = summary(exc)
    op = _search("onnx_node", text)
    return KNOWN["onnx_preamble"].pattern.sub("", text).rstrip("."), op["op"] if op else None


# --- other libraries' conventions ----------------------------------------------------------


def snake_case(name: str) -> str:
    """`BinaryCrossentropy` -> `binary_crossentropy`, `Dense` -> `dense`: the names Keras accepts
    beside class names, and the base of Keras' default layer names."""
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def plain(value: Any, resolve: bool = False) -> Any:
    """OmegaConf containers as plain lists and dicts (interpolations resolved if `resolve`); others as given."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(value, resolve=resolve) if OmegaConf.is_config(value) else value
