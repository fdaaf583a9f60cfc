"""Ensembles: one run whose model averages its members' outputs with weights.

`combine` (dlcli ensemble RUN RUN ...) reopens finished runs, checks they take the same inputs
and give the same outputs from the same preprocessing, picks the weights, and writes a run
directory of its own holding ONE plain Keras model: the members as sub-models, each output a
weighted sum of theirs (built-in `Rescaling` and `Add` layers), so `evaluate`, `predict` and
`export` work on it unchanged and it reloads anywhere Keras does. Weights are `equal`, given,
or learned per output on the validation split: non-negative, summing to 1, minimising that
output's loss (SciPy's SLSQP on the simplex; no worse than the best member alone, which is one
of the simplex's corners). `ensemble.json` records the members and weights; `metrics.json`
holds the ensemble's and each member's val and test metrics.

`run` (train.ensemble=N) trains N members that differ only in `seed` (the split stays that of
the first, through data.seed), then combines them; with train.kfold=K the K fold models are
the members, averaged equally (every sample outside the test split trained some of them, so
no validation data is left to learn weights on).
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from dlcli import lifecycle
from dlcli.drivers import kfold, single
from dlcli.errors import ConfigError, Interrupted, Problem
from dlcli.runs import rundir


@dataclass
class EnsembleResult:
    run_dir: Path
    members: list[str]
    weights: dict[str, list[float]]  # output -> one weight per member
    metrics: dict[str, dict[str, float]]  # the ensemble's val and test metrics
    member_metrics: list[dict[str, dict[str, float]]]
    notes: list[str] = field(default_factory=list)


def wanted(cfg) -> bool:
    """train.ensemble asked for; refuses a count that cannot be meant before anything runs."""
    n, k = int(cfg.train.ensemble), int(cfg.train.kfold)
    if n in (0,):
        return False
    if n < 2:
        raise ConfigError(
            Problem("train.ensemble", f"an ensemble needs 2 members or more, not {n}", "0 trains one model")
        )
    if k >= 2 and n != k:
        raise ConfigError(
            Problem(
                "train.ensemble",
                f"with train.kfold={k} the members are the {k} fold models, not {n}",
                f"set train.ensemble={k}, or drop train.kfold to train {n} members with different seeds",
            )
        )
    if cfg.train.fold is not None:
        raise ConfigError(Problem("train.ensemble", "train.fold trains one fold: there is nothing to average"))
    fitted = [key for key in ("scaler", "target_scaler") if str(cfg.data.preprocess[key]).rsplit(".", 1)[-1] != "none"]
    if k >= 2 and fitted:  # refused now, not once every fold has trained
        raise ConfigError(
            Problem(
                "train.ensemble",
                f"each of the {k} fold models fits data.preprocess.{fitted[0]} on its own training folds,"
                " so no one preprocessing can feed them all in one model",
                f"train.ensemble={k} without train.kfold trains {k} members on one split;"
                f" or data.preprocess.{fitted[0]}=none",
            )
        )
    return True


def run(prepared: lifecycle.Prepared, observer: lifecycle.Observer | None = None) -> EnsembleResult:
    """Train the members (or the K folds), then combine them into a run of their own."""
    observer = observer or lifecycle.Observer()
    cfg = prepared.cfg
    n = int(cfg.train.ensemble)
    if kfold.wanted(cfg):
        try:
            parent = kfold.run(prepared, observer).run_dir
        except Interrupted as exc:  # the resumed K-fold run is combined as the uninterrupted one would be
            exc.problems[-1].hint += f"; then, to finish the ensemble: {_combining(cfg, [exc.run_dir], 'equal')}"
            raise
        return combine([parent], "equal", f"{cfg.run.name}-ensemble", Path(cfg.run.dir))
    lifecycle.read_data(prepared)  # once, before anything trains: the members share the split (data.seed)
    members = [_member(prepared, i) for i in range(n)]
    paths, validated = [], _validated(prepared)
    for i, member in enumerate(members, start=1):
        try:
            result = single.run(member, observer)
        except (Interrupted, KeyboardInterrupt) as exc:
            raise _cut_short(exc, cfg, members, i, paths, validated) from None
        observer.note(f"member {i}/{n} (seed {member.cfg.seed}) finished: {result.run_dir}")
        paths.append(result.run_dir)
        validated = "val" in result.metrics
        _release(member)
    return combine(paths, "learn" if validated else "equal", f"{cfg.run.name}-ensemble", Path(cfg.run.dir))


def _validated(prepared: lifecycle.Prepared) -> bool:
    """Whether the members will have a validation split to learn weights on, before one has trained:
    as read, or (a source read once the model is built, Keras' sets) as data.val_split asks."""
    if prepared.data is not None:
        return "val" in prepared.data.splits
    return float(prepared.cfg.data.val_split) > 0


def _cut_short(
    exc: Interrupted | KeyboardInterrupt, cfg, members: list, i: int, paths: list[Path], validated: bool
) -> BaseException:
    """Member `i` interrupted: the commands that finish the ensemble exactly as the uninterrupted
    run would have (the members still to train, then `dlcli ensemble` with the same weights)."""
    cut = exc.run_dir if isinstance(exc, Interrupted) else None  # None: its run did not exist yet
    done = [*paths, *([cut] if cut else [])]
    if not done:  # nothing saved: the same command starts over
        return exc
    rest = [m.cfg.seed for m in members[i if cut else i - 1 :]]
    train = [f"dlcli train recipe={done[0] / rundir.MARKER} seed={s} run.name={cfg.run.name}-seed-{s}" for s in rest]
    latest = [f"{cfg.run.name}-seed-{s}/latest" for s in rest]
    combining = _combining(cfg, [*done, *latest], "learn" if validated else "equal")
    then = ", then ".join([*train, combining])
    if cut is None:
        seed = members[i - 1].cfg.seed
        return Interrupted(
            Problem("", f"interrupted before member {i}/{len(members)} (seed {seed}) trained", f"to finish: {then}")
        )
    exc.problems[-1].hint += f"; then, to finish the ensemble: {then}"
    return exc


def _combining(cfg, runs: list, weights: str) -> str:
    """The `dlcli ensemble` command that combines `runs` as `run` would."""
    where = "" if str(cfg.run.dir) == "outputs" else f" --runs-dir {cfg.run.dir}"
    return f"dlcli ensemble {' '.join(map(str, runs))} --weights {weights} --name {cfg.run.name}-ensemble{where}"


def _release(member: lifecycle.Prepared) -> None:
    """Free the member's model before building the next one (the shared data stays)."""
    import keras

    member.data = None
    keras.backend.clear_session()


def _member(prepared: lifecycle.Prepared, index: int) -> lifecycle.Prepared:
    """Member `index`: seed + index for its weights, the first member's data split (data.seed)."""
    member = copy.copy(prepared)
    member.composed = copy.copy(prepared.composed)
    member.composed.cfg = cfg = copy.deepcopy(prepared.cfg)
    if cfg.data.seed is None:
        cfg.data.seed = cfg.seed
    cfg.seed = int(prepared.cfg.seed) + index
    cfg.train.ensemble = 0
    return member


def parse_weights(text: str, n: int, folds: bool = False) -> str | list[float]:
    """`equal`, `learn`, or one number per member (non-negative, summing to 1 within 0.001, as
    0.3333 three times does; scaled to sum to 1 exactly); `folds`: a K-fold run is among the runs
    given, and counts as its fold models."""
    if text in ("equal", "learn"):
        return text
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = None
    bad = values is None or not all(np.isfinite(values)) or min(values) < 0 or abs(sum(values) - 1) > 1e-3
    if bad or len(values) != n:
        got = f"{len(values)} number(s) summing to {sum(values):g}" if values else repr(text)
        if values and min(values) < 0:
            got = f"the negative weight {min(values):g}"
        share = round(1 / n, 2)
        example = [f"{share:g}"] * (n - 1) + [f"{round(1 - share * (n - 1), 2):g}"]  # sums to 1
        members = "one per member; a K-fold run counts as its fold models" if folds else "one per member"
        raise ConfigError(
            Problem(
                "--weights",
                f"expected equal, learn, or {n} non-negative numbers summing to 1 ({members}), got {got}",
                f"e.g. --weights {','.join(example)}",
            )
        )
    return [v / sum(values) for v in values]


def combine(
    paths: list[Path],
    weights: str = "equal",
    name: str | None = None,
    runs_dir: Path = Path("outputs"),
    trust_code: bool = False,
) -> EnsembleResult:
    from dlcli.runs.load import open_run

    paths, folds = _expand(paths)
    if len(paths) < 2:
        raise ConfigError(Problem("RUN", "an ensemble needs 2 runs or more", "give several runs, or a K-fold run"))
    twice = sorted({str(p) for p in paths if sum(q.resolve() == p.resolve() for q in paths) > 1})
    if twice:
        raise ConfigError(
            Problem(
                "RUN", f"{', '.join(twice)} is given more than once", "give each member once; --weights sets shares"
            )
        )
    chosen = parse_weights(weights, len(paths), folds)
    if chosen == "learn" and folds:
        raise ConfigError(
            Problem(
                "--weights",
                "the members are K-fold models: every sample outside the test split trained some of them, "
                "so there is no validation data to learn weights on",
                "use --weights equal (or give them)",
            )
        )
    members = [open_run(p, (), trust_code) for p in paths]
    _check_alike(members)
    first = members[0]
    dataset = first.dataset()
    notes = _split_notes(members, folds)
    batch = int(first.cfg.train.batch_size)
    names = [o.name for o in first.io.outputs]
    if chosen == "learn":
        if dataset.val is None:
            raise ConfigError(
                Problem(
                    "--weights",
                    "learn fits the weights on the validation split, and the runs have none",
                    "use --weights equal",
                )
            )
        per_output = _learn(members, dataset.val, batch)
    else:
        per_output = {o: [1 / len(members)] * len(members) if chosen == "equal" else list(chosen) for o in names}
    model = _model(members, per_output, name or f"{first.cfg.run.name}-ensemble")
    metrics, member_metrics = {}, [{} for _ in members]
    for split in ("val", "test"):
        part = getattr(dataset, split)
        if part is None:
            continue
        metrics[split] = lifecycle.evaluate_split(model, part, batch, dataset.preprocessor)
        for scores, member in zip(member_metrics, members):
            scores[split] = lifecycle.evaluate_split(member.model, part, batch, dataset.preprocessor)
    ids = [str(m.path.resolve()) for m in members]
    run_dir = _write(first, model, name or f"{first.cfg.run.name}-ensemble", runs_dir, ids, per_output, chosen, notes)
    rundir.write_json(
        run_dir / "metrics.json", {**metrics, "members": dict(zip(ids, member_metrics))}
    )  # last: the run is finished
    return EnsembleResult(run_dir, ids, per_output, metrics, member_metrics, notes)


def _expand(paths: list[Path]) -> tuple[list[Path], bool]:
    """A K-fold parent stands for its fold models."""
    out, folds = [], False
    for path in paths:
        found = (
            sorted((p for p in path.glob("fold-*") if p.name[5:].isdigit()), key=lambda p: int(p.name[5:]))
            if not (path / "model.keras").is_file()
            else []
        )
        folds = folds or bool(found)
        out.extend(found or [path])
    return out, folds


def _check_alike(members) -> None:
    """Same inputs, outputs and fitted preprocessing as the first member, or a problem naming the mismatch."""
    first, problems = members[0], []
    for member in members[1:]:
        for what, a, b in (
            ("inputs", first.io.inputs, member.io.inputs),
            ("outputs", first.io.outputs, member.io.outputs),
        ):
            if [s.name for s in a] != [s.name for s in b]:
                problems.append(
                    f"{what} differ: {first.path} has {', '.join(s.name for s in a)}; "
                    f"{member.path} has {', '.join(s.name for s in b)}"
                )
                continue
            for x, y in zip(a, b):
                if list(x.shape) != list(y.shape):
                    problems.append(
                        f"{what[:-1]} {x.name!r} has shape {list(x.shape)} in {first.path} but {list(y.shape)} in {member.path}"
                    )
                elif what == "outputs" and x.kind != y.kind:
                    problems.append(
                        f"output {x.name!r} is trained with {x.loss_name} in {first.path} but {y.loss_name} in {member.path}"
                    )
        problems.extend(_preprocessing_differs(first, member))
    if problems:
        hint = "ensemble runs of one model shape trained on the same data, e.g. one recipe with different seed= and the same data.seed="
        if all(m.path.parent == first.path.parent and m.path.name.startswith("fold-") for m in members):
            hint = "the folds of a K-fold run fit their scalers on different training folds: ensemble runs trained on one split"
        raise ConfigError([Problem("RUN", text, hint if text is problems[-1] else None) for text in problems])


def _preprocessing_differs(first, member) -> list[str]:
    """What of the fitted preprocessing differs between two members: one input cannot feed both."""
    a, b = _preprocessing(first), _preprocessing(member)
    if a["config"] != b["config"]:
        return [f"data.preprocess differs: {first.path} has {a['config']}; {member.path} has {b['config']}"]
    out = []
    for key, what in (("classes", "class labels"), ("negative", "negative label")):
        for name in sorted(set(a[key]) | set(b[key])):
            if a[key].get(name) != b[key].get(name):
                out.append(
                    f"output {name!r} has the {what} {_short(a[key].get(name))} in {first.path} "
                    f"but {_short(b[key].get(name))} in {member.path}"
                )
    if (a["x"], a["y"]) != (b["x"], b["y"]):
        out.append(
            f"the scalers fitted in {member.path} differ from {first.path}'s "
            "(fit on another training split): one input cannot feed both"
        )
    return out


def _preprocessing(member) -> dict:
    state = member.preprocess.get("state") or {}
    config = OmegaConf.to_container(member.cfg.data.preprocess, resolve=True)
    return {
        "config": json.dumps(config, sort_keys=True, default=str),
        **{k: json.dumps(state.get(k), sort_keys=True, default=str) for k in ("x", "y")},
        **{k: state.get(k) or {} for k in ("classes", "negative")},
    }


def _short(labels, limit: int = 8) -> str:
    if not isinstance(labels, list):
        return "none" if labels is None else repr(labels)
    shown = ", ".join(map(repr, labels[:limit]))
    return f"[{shown}{', ...' if len(labels) > limit else ''}]"


def _split_notes(members, folds: bool) -> list[str]:
    """Members split differently: some of the ensemble's val and test samples trained some of them."""

    def split_of(member):
        data = OmegaConf.to_container(member.cfg.data, resolve=True)
        seed = data.pop("seed", None)
        data.pop("workers", None)
        return json.dumps(data, sort_keys=True, default=str), member.cfg.seed if seed is None else seed

    notes = []
    if folds:
        notes.append(
            "the members are K-fold models: each validation fold trained the others, so only the test metrics are fair"
        )
    if len({split_of(m) for m in members}) > 1:
        notes.append(
            "the members were split differently (another seed or data config): some of the ensemble's val and test "
            "samples trained some members, so those scores are optimistic; give members the same data.seed"
        )
    return notes


def _learn(members, val, batch_size: int) -> dict[str, list[float]]:
    """Per output, the weights on the simplex that minimise that output's loss on the validation split."""
    import keras
    from scipy.optimize import minimize

    from dlcli.config import validate
    from dlcli.data import by_name
    from dlcli.graph import registry

    graph = validate(members[0].cfg)
    names = [o.name for o in members[0].io.outputs]
    predicted, truth = [], None
    for member in members:
        p, truth = val.predict(member.model, batch_size)
        predicted.append(by_name(p, names))
    truth = by_name(truth, names)
    learned = {}
    for name in names:
        loss = registry.component("loss", graph.outputs[name]["loss"], graph.source(name, "loss"))
        loss = keras.losses.get(loss) if isinstance(loss, str) else loss
        stacked = np.stack([p[name] for p in predicted]).astype("float32")
        y = (
            np.asarray(truth[name]).reshape(stacked.shape[1:])
            if np.size(truth[name]) == stacked[0].size
            else np.asarray(truth[name])
        )

        def objective(w, stacked=stacked, y=y, loss=loss):
            mixed = np.tensordot(np.asarray(w, dtype="float32"), stacked, axes=1)
            return float(np.mean(keras.ops.convert_to_numpy(loss(y, mixed))))

        n = len(members)
        found = minimize(
            objective,
            np.full(n, 1 / n),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * n,
            constraints=[{"type": "eq", "fun": lambda w: np.sum(w) - 1}],
            options={"eps": 1e-3},  # finite-difference step well above the float32 loss's rounding
        )
        w = np.clip(found.x, 0, None)
        w = w / w.sum()
        best = min([w, *np.eye(n)], key=objective)  # never worse than the best member alone
        learned[name] = [float(v) for v in best]
    return learned


def _model(members, weights: dict[str, list[float]], name: str):
    """One functional model: the members as sub-models, each output the weighted sum of theirs."""
    import keras

    from dlcli.config import validate
    from dlcli.graph import compiler

    first = members[0]
    inputs = [keras.Input(shape=tuple(s.shape), dtype=s.dtype, name=s.name) for s in first.io.inputs]
    feed = inputs[0] if len(inputs) == 1 else inputs
    names = [o.name for o in first.io.outputs]
    given = []
    for i, member in enumerate(members, start=1):
        member.model.name = f"member_{i}"
        out = member.model(feed)
        given.append(
            out if isinstance(out, dict) else dict(zip(names, out if isinstance(out, (list, tuple)) else [out]))
        )
    outputs = {
        o: keras.layers.Add(name=o)(
            [keras.layers.Rescaling(weights[o][i], name=f"{o}_weight_{i + 1}")(g[o]) for i, g in enumerate(given)]
        )
        for o in names
    }
    model = keras.Model(feed, outputs[names[0]] if len(names) == 1 else outputs, name=name.replace("/", "_"))
    graph = validate(first.cfg)
    compiler.compile_model(
        model, graph, compiler.optimizer_from_config(OmegaConf.to_container(first.cfg.optimizer, resolve=True))
    )
    return model


def _write(first, model, name: str, runs_dir: Path, ids, weights, chosen, notes) -> Path:
    """The run's files; metrics.json is left to the caller, last."""
    from dlcli.runs import env

    cfg = copy.deepcopy(first.cfg)
    cfg.run.name, cfg.run.dir = name, str(runs_dir)
    cfg.train.ensemble = len(ids)
    staging = rundir.stage_run(runs_dir, name)
    try:
        rundir.write_text(staging / rundir.MARKER, rundir.config_yaml(cfg))
        overrides = rundir.load_overrides(first.path)
        overrides.ensemble = ids
        rundir.write_text(staging / rundir.OVERRIDES, OmegaConf.to_yaml(overrides))
        rundir.write_json(staging / "env.json", env.describe())
        rundir.write_json(staging / "preprocess.json", first.preprocess)
        method = chosen if isinstance(chosen, str) else "given"
        rundir.write_json(
            staging / "ensemble.json",
            {
                "members": ids,
                "weights": weights,
                "method": method,
                **({"fit_on": "val"} if method == "learn" else {}),
                "notes": notes,
            },
        )
        with rundir.atomic_write(staging / "model.keras") as tmp:
            model.save(tmp)
        return rundir.publish(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
