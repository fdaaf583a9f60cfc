"""`--smoke`: the whole pipeline on synthetic data shaped by the model, a couple of steps."""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dlcli import lifecycle
from dlcli.drivers import single

BATCH = 2  # one step of 2 per split: the dual-camera Xception's step alone takes ~25 s on a CPU


def shrink(cfg: DictConfig) -> None:
    """Same config, synthetic data from the model's specs, one short epoch, runs under smoke/."""
    cfg.data.source = "synthetic"
    cfg.data.samples = BATCH * 3
    for key in ("path", "train_path", "val_path", "test_path", "limit"):
        cfg.data[key] = None
    cfg.data.preprocess = OmegaConf.structured(type(OmegaConf.to_object(cfg.data.preprocess)))
    cfg.data.stratify = False
    cfg.data.stream = False
    cfg.data.test_split, cfg.data.val_split = 1 / 3, 1 / 2  # 6 samples -> 2 train, 2 val, 2 test
    cfg.train.epochs = 1
    cfg.train.batch_size = BATCH
    if cfg.run.dir:  # (an empty one is refused by validation, not turned into smoke/)
        cfg.run.dir = str(Path(cfg.run.dir) / "smoke")


def run(recipe: str, config_dirs: list[str], root: Path) -> lifecycle.Result:
    """Smoke-run one recipe into `root`, then free what it built for the next one."""
    try:
        prepared = lifecycle.prepare(recipe, [], config_dirs, runs_dir=root, adjust=shrink)
        return single.run(prepared)
    finally:
        if "keras" in sys.modules:
            sys.modules["keras"].backend.clear_session()
