"""The datasets shipped in ``proxy_tasks/data/`` (see its README for provenance), loaded once.

Nothing is downloaded: every file is read from the installed package.
"""

from __future__ import annotations

import functools
import gzip
import io
from importlib import resources
from typing import NamedTuple

import numpy as np

SPLIT_SEED = 0
DIGITS_TRAIN_FRACTION = 0.8
TEXT_TRAIN_FRACTION = 0.9


def _read_bytes(filename: str) -> bytes:
    """The raw bytes of ``proxy_tasks/data/<filename>``."""
    return (resources.files("proxy_tasks") / "data" / filename).read_bytes()


class Digits(NamedTuple):
    """UCI 8x8 digits: pixels scaled to [0, 1] as float32 (n, 64), labels int32 (n,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@functools.cache
def digits(split_seed: int = SPLIT_SEED) -> Digits:
    """The 1,797 digits, shuffled with a fixed seed (`split_seed`), split 80/20: 1,437 train /
    360 validation."""
    raw = np.loadtxt(io.BytesIO(gzip.decompress(_read_bytes("digits.csv.gz"))), delimiter=",")
    x = (raw[:, :64] / 16.0).astype(np.float32)
    y = raw[:, 64].astype(np.int32)
    order = np.random.RandomState(split_seed).permutation(len(y))
    n_train = int(DIGITS_TRAIN_FRACTION * len(y))
    train, val = order[:n_train], order[n_train:]
    return Digits(x[train], y[train], x[val], y[val])


class TextCorpus(NamedTuple):
    """A byte-level corpus: token ids (uint8) into ``vocab``, the sorted distinct bytes present."""

    train: np.ndarray
    val: np.ndarray
    vocab: bytes


@functools.cache
def text_corpus() -> TextCorpus:
    """The pydoc topics text, tokenized by byte; first 90% for training, last 10% for validation."""
    raw = np.frombuffer(_read_bytes("pydoc_topics.txt"), dtype=np.uint8)
    vocab = np.unique(raw)
    ids = np.searchsorted(vocab, raw).astype(np.uint8)
    n_train = int(TEXT_TRAIN_FRACTION * len(ids))
    return TextCorpus(ids[:n_train], ids[n_train:], vocab.tobytes())
