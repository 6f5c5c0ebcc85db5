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

SHUFFLE_SEED = 0
DIGITS_TRAIN_FRACTION = 0.8
TEXT_TRAIN_FRACTION = 0.9


def _read_bytes(filename: str) -> bytes:
    """The raw bytes of ``proxy_tasks/data/<filename>``."""
    return (resources.files("proxy_tasks") / "data" / filename).read_bytes()


class Digits(NamedTuple):
    """UCI 8x8 digits: pixels scaled to [0, 1] as float32 (n, 64), labels int32 (n,), and how
    many of each run's examples it trains on (the rest are its validation split)."""

    x: np.ndarray
    y: np.ndarray
    n_train: int


@functools.cache
def digits() -> Digits:
    """The 1,797 digits, shuffled once with a fixed seed (`SHUFFLE_SEED`), of which each run
    trains on 80% (1,437) and validates on 20% (360); which ones, the run's data key draws
    (`nn.classification_fns`)."""
    raw = np.loadtxt(io.BytesIO(gzip.decompress(_read_bytes("digits.csv.gz"))), delimiter=",")
    order = np.random.RandomState(SHUFFLE_SEED).permutation(len(raw))
    x = (raw[order, :64] / 16.0).astype(np.float32)
    y = raw[order, 64].astype(np.int32)
    return Digits(x, y, int(DIGITS_TRAIN_FRACTION * len(y)))


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
