"""MinHash LSH near-duplicate detection: the pure core (no Beam import).

Mirrors datatrove's MinHash stages (signature -> band grouping -> union-find -> filter) over
one :class:`MinHashConfig`, as module-level functions that tests reach directly:

- :func:`normalize` and :func:`shingle_hashes`: character n-grams of whitespace-normalised
  text, hashed to 64 bits with a vectorised polynomial hash and a murmur3 finaliser.
- :func:`signatures`: MinHash signatures of a *batch* of documents in vectorised numpy.
  Every shingle of the batch is hashed once; each of the ``num_perm`` permutations is then
  applied to the whole batch at once and min-reduced per document (``np.minimum.reduceat``).
  The permutations are datasketch 2.0's default ``affine32`` scheme,
  ``h_i(x) = (a_i * x + b_i) mod 2**32`` over 32-bit shingle hashes (odd ``a_i``, so each is
  a bijection), so no 64-bit modulo and no per-shingle Python call is needed.
- :func:`band_keys`: one 64-bit key per LSH band (``rows`` signature values each); two
  documents are candidates when they share a key (Leskovec, Rajaraman, Ullman, *Mining of
  Massive Datasets*, ch. 3.4). Bands and rows come from datasketch's optimiser
  (``datasketch.lsh._optimal_param``), which minimises the weighted false positive and false
  negative areas under the S-curve ``1 - (1 - s**r)**b`` around the threshold.
- :func:`candidate_edges`: pairs from one LSH bucket, bounded for huge buckets (a star to the
  bucket's smallest id keeps connectivity with ``n - 1`` edges instead of ``n(n-1)/2``).
- :func:`estimated_jaccard`, :func:`jaccard`: candidate verification.
- :class:`UnionFind`, :func:`connected_components`: components of the candidate graph.
- :func:`rank_key`, :func:`choose_representative`: which row a component keeps.

Defaults (256 permutations, character 5-grams, Jaccard 0.7) are SynthCoNL's, the dataset of
the MoSE paper (Gurioli et al., "Is Multi-Exit Better? MoSE: Multi-layer Self-distillation
Encoders for code retrieval", arXiv 2506.01916; SynthCoNL near-dedup went from 1,071,367 to
~922k rows with these settings).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import itertools
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from pipeline.settings import DEFAULT_SEED, setting

#: Licenses a representative prefers: lower-case ``fnmatch`` patterns over the row's license,
#: where the word ``permissive`` stands for ``pipeline.sources.license_policy.is_permissive`` (the
#: one definition: ScanCode's "Permissive" and "Public Domain" categories, expression-aware).
PERMISSIVE_LICENSES: tuple[str, ...] = ("permissive",)

VERIFY_MODES: tuple[str, ...] = ("none", "signature", "exact")

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
_POLY = np.uint64(0x100000001B3)  # FNV-64 prime: an odd multiplier for the rolling hash
_EMPTY = np.uint32(0xFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class MinHashConfig:
    """Everything the near-dedup stages must agree on, workers included (seeded).

    Defaults are SynthCoNL's (MoSE paper, arXiv 2506.01916): 256 permutations, character
    5-grams, Jaccard threshold 0.7. ``bands``/``rows`` default to datasketch's optimiser for
    (threshold, num_perm) with the given false positive/negative weights (datasketch's
    ``MinHashLSH`` defaults 0.5/0.5 give (25, 10) for 0.7/256; with verification on, a higher
    ``false_negative_weight`` buys recall near the threshold: 0.1/0.9 gives (32, 8)).

    ``verify`` checks each LSH candidate pair before it becomes an edge: ``signature``
    (estimated Jaccard from the signatures >= threshold), ``exact`` (true Jaccard of the
    shingle sets >= threshold) or ``none`` (every candidate is an edge, as datasketch's
    ``MinHashLSH`` and datatrove do). Buckets with more than ``max_bucket_size`` members
    emit a star to their smallest id instead of all pairs. Band keys are shuffled to
    ``lsh_partitions`` Beam keys; each partition holds ``rows * bands / lsh_partitions``
    entries in memory, so raise it with the corpus (e.g. rows / 4,000).

    The representative of a component is the row with a permissive license (``license_column``
    matching ``permissive_licenses``), then passing tests (``status_column`` in
    ``passing_statuses``), then the shortest id, then the lexicographically smallest id.
    """

    num_perm: int = setting(256, type=int, help="MinHash permutations (SynthCoNL: 256)")
    ngram: int = setting(5, type=int, help="character n-gram size (SynthCoNL: 5)")
    threshold: float = setting(
        0.7,
        flag="dedup_threshold",
        type=float,
        help="MinHash LSH Jaccard threshold (SynthCoNL: 0.7)",
    )
    seed: int = DEFAULT_SEED
    column: str = "code"
    id_column: str = "id"
    verify: str = "signature"
    bands: int | None = None
    rows: int | None = None
    false_positive_weight: float = 0.5
    false_negative_weight: float = 0.5
    max_bucket_size: int = 50
    batch_size: int = 256
    lsh_partitions: int = 256
    license_column: str = "license"
    permissive_licenses: tuple[str, ...] = PERMISSIVE_LICENSES
    status_column: str = "exec_status"
    passing_statuses: tuple[str, ...] = ("passed",)

    def __post_init__(self) -> None:
        if self.num_perm < 2:
            raise ValueError(f"num_perm must be >= 2, got {self.num_perm}")
        if self.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {self.ngram}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {self.verify!r}")
        if (self.bands is None) != (self.rows is None):
            raise ValueError("give both bands and rows, or neither")
        if self.bands is not None and (
            self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm
        ):
            raise ValueError(
                f"bands*rows must be <= num_perm ({self.num_perm}), got {self.bands}x{self.rows}"
            )
        if (
            self.false_positive_weight < 0
            or self.false_negative_weight < 0
            or (self.false_positive_weight + self.false_negative_weight <= 0)
        ):
            raise ValueError("false positive/negative weights must be >= 0 and not both 0")
        if self.max_bucket_size < 2:
            raise ValueError(f"max_bucket_size must be >= 2, got {self.max_bucket_size}")
        if self.lsh_partitions < 1:
            raise ValueError(f"lsh_partitions must be >= 1, got {self.lsh_partitions}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if isinstance(self.permissive_licenses, str) or isinstance(self.passing_statuses, str):
            raise ValueError("permissive_licenses and passing_statuses must be tuples of strings")

    @property
    def band_rows(self) -> tuple[int, int]:
        """(bands, rows): explicit, or datasketch's optimiser for (threshold, num_perm)."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_band_rows(
            self.threshold, self.num_perm, self.false_positive_weight, self.false_negative_weight
        )

    def __str__(self) -> str:
        b, r = self.band_rows
        return (
            f"minhash_{self.num_perm}perm_{self.ngram}gram_t{self.threshold:g}_b{b}r{r}"
            f"_seed{self.seed}_verify-{self.verify}_col-{self.column}_id-{self.id_column}"
        )


#: The one set of MinHash defaults (the ``MinHashConfig`` fields) for the functions below.
_DEFAULT = MinHashConfig()


@functools.lru_cache(maxsize=64)
def optimal_band_rows(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """datasketch's LSH optimiser: the (bands, rows) minimising the weighted areas of false
    positives below and false negatives above ``threshold`` under ``1 - (1 - s**r)**b``."""
    from datasketch.lsh import _optimal_param

    b, r = _optimal_param(threshold, num_perm, fp_weight, fn_weight)
    return int(b), int(r)


def normalize(text: str | None) -> str:
    """Collapse every whitespace run to one space and strip the ends (None -> "")."""
    return " ".join(text.split()) if text else ""


def text_hash(text: str | None) -> str:
    """Exact-duplicate key: SHA-1 of the normalised text (hex)."""
    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()


def _fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finaliser (Appleby, MurmurHash3 ``fmix64``), vectorised, wrapping."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _gram_hashes(cps: np.ndarray, ngram: int) -> np.ndarray:
    """64-bit hash of every window of ``ngram`` code points (polynomial, then fmix64)."""
    n = len(cps) - ngram + 1
    c = cps.astype(np.uint64)
    h = c[:n].copy()
    for k in range(1, ngram):
        h *= _POLY
        h += c[k : k + n]
    return _fmix64(h)


def shingle_hashes(text: str | None, ngram: int = 5) -> np.ndarray:
    """Sorted unique 64-bit hashes of the character n-grams of normalised ``text``.

    A non-empty text shorter than ``ngram`` is one shingle (itself); an empty text has none.
    """
    norm = normalize(text)
    if not norm:
        return np.empty(0, dtype=np.uint64)
    cps = _codepoints(norm)
    if len(cps) < ngram:
        cps = np.concatenate([cps, np.zeros(ngram - len(cps), dtype=np.uint32)])
    return np.unique(_gram_hashes(cps, ngram))


def jaccard(a: str | None, b: str | None, ngram: int = 5) -> float:
    """True Jaccard similarity of the n-gram sets of two texts (1.0 for two empty texts)."""
    ha, hb = shingle_hashes(a, ngram), shingle_hashes(b, ngram)
    if len(ha) == 0 and len(hb) == 0:
        return 1.0
    inter = len(np.intersect1d(ha, hb, assume_unique=True))
    return inter / (len(ha) + len(hb) - inter)


@functools.lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) uint32 parameters of the ``num_perm`` affine permutations for ``seed``."""
    gen = np.random.default_rng(seed)
    a = gen.integers(1, 1 << 32, size=num_perm, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    b = gen.integers(0, 1 << 32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def signatures(
    texts: Sequence[str | None],
    num_perm: int = _DEFAULT.num_perm,
    ngram: int = _DEFAULT.ngram,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """MinHash signatures of a batch of texts: ``(len(texts), num_perm)`` uint32.

    An empty text (after normalisation) gets a row of 0xFFFFFFFF; :func:`is_empty` tells.
    Cost: O(total shingles * num_perm) in numpy with no per-shingle Python work.
    """
    out = np.full((len(texts), num_perm), _EMPTY, dtype=np.uint32)
    norms = [normalize(t) for t in texts]
    pieces: list[np.ndarray] = []
    rows: list[int] = []
    lengths: list[int] = []
    long_idx = [i for i, t in enumerate(norms) if len(t) >= ngram]
    if long_idx:
        # One encode for the whole batch; windows crossing a document boundary are dropped.
        joined = _codepoints("".join(norms[i] for i in long_idx))
        doc_len = np.fromiter(
            (len(norms[i]) for i in long_idx), dtype=np.int64, count=len(long_idx)
        )
        starts = np.concatenate([[0], np.cumsum(doc_len)[:-1]])
        all_h = _gram_hashes(joined, ngram)
        counts = doc_len - ngram + 1
        keep = np.ones(len(all_h), dtype=bool)
        for off in range(1, ngram):  # the ngram-1 windows before each boundary straddle it
            idx = starts[1:] - off
            keep[idx[idx >= 0]] = False
        pieces.append(all_h[keep])
        rows.extend(long_idx)
        lengths.extend(counts.tolist())
    for i, t in enumerate(norms):
        if 0 < len(t) < ngram:
            pieces.append(shingle_hashes(t, ngram))
            rows.append(i)
            lengths.append(1)
    if not pieces:
        return out
    x = (np.concatenate(pieces) >> np.uint64(32)).astype(np.uint32)  # top 32 bits of each
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
    a, b = permutations(num_perm, seed)
    sig = np.empty((len(rows), num_perm), dtype=np.uint32)
    tmp = np.empty_like(x)
    for i in range(num_perm):  # one pass over the batch per permutation, wrapping uint32
        np.multiply(x, a[i], out=tmp)
        np.add(tmp, b[i], out=tmp)
        sig[:, i] = np.minimum.reduceat(tmp, offsets)
    out[np.asarray(rows, dtype=np.intp)] = sig
    return out


def signature(
    text: str | None,
    num_perm: int = _DEFAULT.num_perm,
    ngram: int = _DEFAULT.ngram,
    seed: int = DEFAULT_SEED,
) -> np.ndarray:
    """The MinHash signature of one text (see :func:`signatures`)."""
    return signatures([text], num_perm, ngram, seed)[0]


def is_empty(sig: np.ndarray) -> bool:
    """Whether a signature is that of an empty text (no shingles)."""
    return bool(np.all(sig == _EMPTY))


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature positions: an unbiased estimate of the Jaccard similarity."""
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signatures of different lengths: {sig_a.shape} vs {sig_b.shape}")
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)


@functools.lru_cache(maxsize=16)
def _band_salts(bands: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng([seed, bands, 0xBA4D])
    return gen.integers(0, 1 << 63, size=bands, dtype=np.uint64)


@functools.lru_cache(maxsize=16)
def _row_multipliers(rows: int, seed: int) -> np.ndarray:
    gen = np.random.default_rng([seed, rows, 0x5EED])
    return gen.integers(0, 1 << 63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def band_keys(sigs: np.ndarray, bands: int, rows: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``(n, bands)`` uint64 LSH keys: a hash of each band's ``rows`` values and its index.

    Equal keys <=> equal bands (up to 64-bit collisions); the band index is mixed in, so
    equal values in different bands do not collide.
    """
    if sigs.ndim != 2 or sigs.shape[1] < bands * rows:
        raise ValueError(f"signatures of shape {sigs.shape} are too short for {bands}x{rows} bands")
    block = sigs[:, : bands * rows].reshape(len(sigs), bands, rows).astype(np.uint64)
    mixed = (block * _row_multipliers(rows, seed)).sum(axis=2, dtype=np.uint64)  # wraps mod 2**64
    return _fmix64(mixed ^ _band_salts(bands, seed))


def candidate_edges(
    ids: Iterable[Hashable], max_bucket_size: int = 50
) -> Iterator[tuple[Any, Any]]:
    """Pairs ``(smaller, larger)`` among the members of one LSH bucket.

    Up to ``max_bucket_size`` members: all pairs. Larger buckets (boilerplate shared by
    thousands of rows): a star from the smallest member to every other, which keeps the
    bucket connected with n-1 edges. Members sort by ``(len(str(id)), str(id))``.
    """
    members = sorted(set(ids), key=_id_order)
    if len(members) < 2:
        return
    if len(members) <= max_bucket_size:
        yield from itertools.combinations(members, 2)
    else:
        root = members[0]
        for other in members[1:]:
            yield root, other


def _id_order(x: Any) -> tuple[int, str]:
    s = str(x)
    return len(s), s


class UnionFind:
    """Disjoint sets with path halving; the root of a set is its smallest member.

    Roots by :func:`_id_order` make the result independent of the order edges arrive in,
    which is what lets partial union-finds from different workers merge into the same answer.
    """

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            return x
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: Any, b: Any) -> Any:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        if _id_order(rb) < _id_order(ra):
            ra, rb = rb, ra
        self.parent[rb] = ra
        return ra

    def merge(self, other: UnionFind) -> None:
        """Absorb another union-find (every ``x -> parent`` link becomes a union)."""
        for x, p in other.parent.items():
            self.union(x, p)

    def components(self) -> dict[Any, Any]:
        """Every node seen -> the root of its component."""
        return {x: self.find(x) for x in list(self.parent)}


def connected_components(edges: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """Node -> component root (its smallest member) for an undirected edge list."""
    uf = UnionFind()
    for a, b in edges:
        uf.union(a, b)
    return uf.components()


def is_permissive(license_value: Any, patterns: Sequence[str] = PERMISSIVE_LICENSES) -> bool:
    """Whether a license string matches one of the (lower-case, fnmatch) patterns; the pattern
    ``permissive`` matches what ``pipeline.sources.license_policy.is_permissive`` calls permissive."""
    if not isinstance(license_value, str) or not license_value.strip():
        return False
    value = license_value.strip().lower()
    for pattern in patterns:
        if pattern == "permissive":
            from pipeline.sources.license_policy import is_permissive as permissive_expression

            if permissive_expression(value):
                return True
        elif fnmatch.fnmatchcase(value, pattern):
            return True
    return False


class RankKey(NamedTuple):
    """How good a row is as its cluster's representative; compares as a tuple, smaller wins."""

    not_permissive: int  # 0: the license is permissive
    not_passed: int  # 0: the row passed its tests
    id_length: int
    id: str


def rank_key(row: dict[str, Any], config: MinHashConfig) -> RankKey:
    """Sort key of a row as a representative: smaller wins (see :class:`MinHashConfig`)."""
    rid = str(row[config.id_column])
    permissive = is_permissive(row.get(config.license_column), config.permissive_licenses)
    passed = row.get(config.status_column) in config.passing_statuses
    return RankKey(0 if permissive else 1, 0 if passed else 1, len(rid), rid)


def choose_representative(keys: Iterable[RankKey]) -> str:
    """The id of the best rank key (the rule is total, so the choice is deterministic)."""
    return RankKey(*min(keys)).id
