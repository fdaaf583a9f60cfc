"""Learning-rate schedules for `LearningRateScheduler`, written in the config.

`schedule: "1 / (1 + epoch)"` (seed 003's lambda) is a formula of `epoch`
(0-based) and `lr` (the current rate). It is parsed with `ast` and evaluated by
walking the tree, allowing only numbers, those two names, arithmetic,
comparisons, `a if cond else b` and math functions: a config can never run
code. `schedule: {class: ExponentialDecay, ...}` is a Keras schedule by name,
evaluated at the epoch number instead of the optimizer step.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable

import numpy as np

from dlcli.config.schema import learning_rate_problem
from dlcli.errors import ConfigError, Problem, did_you_mean

_NAMES = ("epoch", "lr")
_CONSTANTS = {"pi": math.pi, "e": math.e}
_FUNCTIONS: dict[str, Callable] = {
    **{
        n: getattr(math, n)
        for n in ("exp", "log", "log2", "log10", "sqrt", "sin", "cos", "tan", "floor", "ceil", "pow")
    },
    "abs": abs,
    "min": min,
    "max": max,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


class Formula:
    """`schedule(epoch, lr) -> float`, as Keras' LearningRateScheduler calls it."""

    def __init__(self, text: str, where: str = "schedule"):
        self.text = text
        try:
            self._tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as exc:
            raise ConfigError(
                Problem(
                    where,
                    f"cannot parse {text!r}: {exc.msg}",
                    "write a formula of epoch and lr, e.g. 1 / (1 + epoch) or lr * 0.9",
                )
            ) from None
        self._check(self._tree, where)
        self.uses_lr = any(isinstance(n, ast.Name) and n.id == "lr" for n in ast.walk(self._tree))

    def __call__(self, epoch: int, lr: float) -> float:
        try:
            return float(self._eval(self._tree, {"epoch": float(epoch), "lr": float(lr)}))
        except (
            ArithmeticError,
            ValueError,
            TypeError,
        ) as exc:  # never TypeError (`exp(1, 2)`): Keras would retry with schedule(epoch)
            raise ValueError(f"learning-rate schedule {self.text!r} at epoch {epoch}: {exc}") from None

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"

    def __str__(self) -> str:
        return repr(self.text)

    def _check(self, node: ast.AST, where: str) -> None:
        allowed = (*_NAMES, *_CONSTANTS, *_FUNCTIONS)
        for sub in ast.walk(node):  # names first: a misspelt `epoch` or `exp` gets a suggestion
            if isinstance(sub, ast.Name) and sub.id not in allowed:
                hint = (
                    did_you_mean(sub.id, allowed) or f"names: {', '.join(_NAMES)}; functions: {', '.join(_FUNCTIONS)}"
                )
                raise ConfigError(Problem(where, f"unknown name {sub.id!r} in {self.text!r}", hint))
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call) and not (
                isinstance(sub.func, ast.Name) and sub.func.id in _FUNCTIONS and not sub.keywords
            ):
                raise ConfigError(
                    Problem(
                        where,
                        f"only math functions can be called in {self.text!r}",
                        f"functions: {', '.join(_FUNCTIONS)}",
                    )
                )
            if isinstance(sub, ast.Constant) and (
                isinstance(sub.value, bool) or not isinstance(sub.value, (int, float))
            ):
                raise ConfigError(Problem(where, f"{sub.value!r} is not a number in {self.text!r}"))
            if not isinstance(sub, _ALLOWED_NODES):
                raise ConfigError(
                    Problem(
                        where,
                        f"{type(sub).__name__} is not allowed in {self.text!r}",
                        "arithmetic, comparisons, `a if cond else b` and math functions only",
                    )
                )

    def _eval(self, node: ast.AST, env: dict[str, float]) -> Any:
        if isinstance(node, ast.Constant):
            return float(node.value)  # floats overflow with an error where ints would grow without end
        if isinstance(node, ast.Name):
            return env[node.id] if node.id in env else _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self._eval(node.left, env), self._eval(node.right, env))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self._eval(node.operand, env))
        if isinstance(node, ast.IfExp):
            return self._eval(node.body if self._eval(node.test, env) else node.orelse, env)
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, env)
                if not _COMPARE[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.id](*(self._eval(a, env) for a in node.args))
        raise ValueError(f"cannot evaluate {type(node).__name__}")  # unreachable after _check


_ALLOWED_NODES = (
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.IfExp,
    ast.Compare,
    ast.Call,
    *_BINARY,
    *_UNARY,
    *_COMPARE,
)


class EpochSchedule:
    """A Keras `LearningRateSchedule` stepped once per epoch."""

    uses_lr = False

    def __init__(self, schedule):
        self.schedule = schedule

    def __call__(self, epoch: int, lr: float) -> float:
        return float(self.schedule(epoch))

    def __repr__(self) -> str:
        return f"EpochSchedule({type(self.schedule).__name__})"

    def __str__(self) -> str:
        return type(self.schedule).__name__


_EPOCHS = "it runs for epoch 0, 1, ... with lr the rate of the epoch before (optimizer.learning_rate at epoch 0)"


# The most epochs checked one after another (each rate from the last), and the most sampled
# beyond them: the check's work is bounded however large train.epochs is.
CHAINED_EPOCHS = 1000
SAMPLED_EPOCHS = 200


def epochs_to_check(epochs: int, chained: bool) -> list[int]:
    """Epochs 0.. up to CHAINED_EPOCHS, then (when a rate does not depend on the last one) about
    SAMPLED_EPOCHS more, spaced geometrically up to the last epoch, which is always among them."""
    first = list(range(min(epochs, CHAINED_EPOCHS)))
    if chained or epochs <= CHAINED_EPOCHS:
        return first
    ratio = (epochs - 1) / CHAINED_EPOCHS
    later = {int(CHAINED_EPOCHS * ratio ** (i / SAMPLED_EPOCHS)) for i in range(1, SAMPLED_EPOCHS + 1)}
    return first + sorted(later | {epochs - 1})


def check_epochs(schedule: Callable[[int, float], float], learning_rate: float, epochs: int, where: str) -> None:
    """The rate for each epoch, each from the last as Keras chains them (the optimizer keeps it
    as float32): an error or a rate that is not a positive number is a config mistake. The work is
    bounded (`epochs_to_check`): a formula of `lr` is followed for its first CHAINED_EPOCHS epochs,
    any other schedule there and at a sample of later epochs up to the last."""
    chained = getattr(schedule, "uses_lr", True)  # a callable dlcli did not make may use lr
    lr = learning_rate
    for epoch in epochs_to_check(epochs, chained):
        try:
            value = schedule(epoch, lr)
        except ValueError as exc:
            raise ConfigError(Problem(where, str(exc), _EPOCHS)) from None
        if learning_rate_problem(float(value)):
            raise ConfigError(
                Problem(
                    where,
                    f"learning-rate schedule {schedule} gives {value:.6g} at epoch {epoch}, and a learning rate must be a positive number",
                    f"{_EPOCHS}; keep it above 0, e.g. max(1e-6, lr - 0.01)",
                )
            )
        lr = float(np.float32(value))


def from_config(value: Any, where: str) -> Callable[[int, float], float]:
    """A formula string, a number, or `{class: <keras schedule>, ...}` -> `schedule(epoch, lr)`."""
    if isinstance(value, dict):
        from dlcli.graph.compiler import learning_rate_schedule

        return EpochSchedule(learning_rate_schedule(value, where))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = repr(float(value))
    if not isinstance(value, str):
        raise ConfigError(
            Problem(
                where,
                f'expected a formula of epoch and lr (e.g. "1 / (1 + epoch)") or {{class: ExponentialDecay, ...}}, got {value!r}',
            )
        )
    return Formula(value, where)
