"""Streamed batches for Keras: a `keras.utils.PyDataset` over the rows of many files.

Batches never cross a file, and an epoch visits the files one after another
(in a new seeded order each epoch when shuffling), so each worker holds about
one file in memory. With `data.workers` >= 2, Keras prepares the batches in a
thread pool, off the training thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import keras
import numpy as np

from dlcli.data.shards import Rows
from dlcli.data.splits import Part


class ShardSequence(keras.utils.PyDataset):
    def __init__(
        self, rows: Rows, make_batch: Callable[[Part], tuple], batch_size: int, shuffle: bool, seed: int, workers: int
    ):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(2 * workers, 4))
        self.rows, self.make_batch, self.batch_size = rows, make_batch, batch_size
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self._cache: OrderedDict[int, Part] = OrderedDict()
        self._lock = threading.Lock()
        self._batches = self._plan()

    def _plan(self) -> list[tuple[int, np.ndarray]]:
        groups = self.rows.shards.groups(self.rows.index)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, self.epoch])
            groups = [(f, rng.permutation(local)) for f, local in (groups[i] for i in rng.permutation(len(groups)))]
        return [
            (f, local[i : i + self.batch_size]) for f, local in groups for i in range(0, len(local), self.batch_size)
        ]

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, i: int):
        f, local = self._batches[i]
        return self.make_batch(self._file(f).take(local))

    def on_epoch_end(self) -> None:
        self.epoch += 1
        if self.shuffle:
            self._batches = self._plan()

    def _file(self, f: int) -> Part:
        """A small cache of whole files: each worker is usually on the same file as the last batch."""
        with self._lock:
            if f in self._cache:
                self._cache.move_to_end(f)
                return self._cache[f]
        part = self.rows.shards.read(self.rows.shards.files[f])
        with self._lock:
            self._cache[f] = part
            while len(self._cache) > self.workers + 1:
                self._cache.popitem(last=False)
        return part
