"""A stand-in encoder for evaluator tests (a test double, not a model).

It offers the ``model.encode.MoseEncoder`` interface with two "exits" built from hashed
bag-of-token vectors (exit 1: 32 buckets, exit 2: 256 buckets), so tests of the evaluator,
report and CLI plumbing need no trained checkpoint. Used where a real tiny model would cost
training time; the end-to-end test with a real checkpoint lives in test_run.py.
"""

from __future__ import annotations

import hashlib

import numpy as np

from eval.bm25 import tokenize


class StandInEncoder:
    """Hashed bag-of-tokens at two widths; ``parameters_up_to`` is the width (fake count)."""

    def __init__(self) -> None:
        self._dims = {1: 32, 2: 256}

    @property
    def exits(self) -> list[int]:
        return [1, 2]

    def parameters_up_to(self, exit: int) -> int:
        return self._dims[exit]

    def _embed(self, texts, exits):
        out = {}
        for e in exits or self.exits:
            x = np.zeros((len(texts), self._dims[e]), np.float32)
            for i, t in enumerate(texts):
                for tok in tokenize(t):
                    x[i, int(hashlib.md5(tok.encode()).hexdigest(), 16) % self._dims[e]] += 1
            x += 1e-3
            out[e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def encode_code(self, codes, languages, exits=None, batch_size=32):
        assert len(codes) == len(languages)
        return self._embed(list(codes), exits)

    def encode_text(self, texts, exits=None, batch_size=32):
        return self._embed(list(texts), exits)


class LookupEncoder:
    """A test double whose vectors are given by hand: ``vectors[text]`` for texts and code.

    Used where a test needs known scores, hence known ranks, to check a protocol end to end.
    """

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = {
            k: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for k, v in vectors.items()
        }

    @property
    def exits(self) -> list[int]:
        return [1]

    def parameters_up_to(self, exit: int) -> int:
        return 1

    def _embed(self, texts):
        return {1: np.stack([self.vectors[t] for t in texts])}

    def encode_code(self, codes, languages, exits=None, batch_size=32):
        assert len(codes) == len(languages)
        return self._embed(list(codes))

    def encode_text(self, texts, exits=None, batch_size=32):
        return self._embed(list(texts))
