"""Exact and near-duplicate removal as Beam transforms, and the ``python -m pipeline.dedup`` CLI.

The transforms work on PCollections of plain row dicts with any columns; the
:class:`~pipeline.minhash.MinHashConfig` says which column holds the text and which the id.
Each returns ``{"kept": ..., "removed": ...}``. Every row comes out exactly once: kept rows
gain ``dedup_cluster`` (the id of their component's representative; a singleton's own id);
removed rows keep every input column and gain ``dedup_cluster``, ``kept_id`` (the
representative's id) and ``reason`` (``exact_duplicate`` / ``near_duplicate``).

Near-dedup is MinHash LSH expressed as Beam keys so Dataflow/Spark/Flink can spread it
(docs/design.md, "Dedup, decontamination and splits"; datatrove's signature -> buckets -> cluster -> filter stages):

1. ``Signatures``: batched numpy MinHash per row (``pipeline.minhash.signatures``).
2. ``GroupByBandPartition``: band keys travel to ``key % lsh_partitions`` Beam keys, in
   chunks (one element per partition per batch, not one per row and band).
3. ``CandidatePairs``: buckets (equal band keys) found in memory per partition; pairs inside
   a bucket (a star to the smallest id for huge buckets).
4. ``Verify*`` (``verify != "none"``): two joins bring both ends' signatures (or texts) to
   each distinct candidate pair, which becomes an edge only if its (estimated or true)
   Jaccard reaches the threshold.
5. ``Components``: a global union-find as a ``CombineFn``. Combiner lifting runs a partial
   union-find on every worker; the partial results merge by union, which is correct whatever
   bands or workers the edges of one component came from. Its memory is O(rows that have at
   least one edge), not O(rows); the representative of each component is chosen there too.
6. ``JoinRepresentative``: each row meets its representative's id by ``CoGroupByKey``.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np

from pipeline.minhash import (
    VERIFY_MODES,
    MinHashConfig,
    RankKey,
    UnionFind,
    band_keys,
    candidate_edges,
    choose_representative,
    estimated_jaccard,
    is_empty,
    jaccard,
    rank_key,
    signatures,
    text_hash,
)
from pipeline.settings import DEFAULT_SEED, add_flag, field_default, unknown_beam_flags
from pipeline.sinks import WriteRows
from pipeline.stage import StageFn

LOG = logging.getLogger(__name__)

NAMESPACE = "dedup"
KEPT = "kept"
REMOVED = "removed"

#: Columns the dedup stages add (all strings, None where they do not apply).
ADDED_COLUMNS: tuple[str, ...] = ("dedup_cluster", "kept_id", "reason", "eval_match")


class Reason(enum.StrEnum):
    EXACT = "exact_duplicate"
    NEAR = "near_duplicate"


def row_text(row: dict[str, Any], config: MinHashConfig) -> str:
    """The text to deduplicate on; a missing column is a user error (None reads as "")."""
    if config.column not in row:
        raise ValueError(f"row has no text column {config.column!r} (columns: {sorted(row)})")
    value = row[config.column]
    return "" if value is None else str(value)


def row_id(row: dict[str, Any], config: MinHashConfig) -> str:
    """The row's id as a string (ids must be unique and not None)."""
    value = row.get(config.id_column)
    if value is None:
        raise ValueError(f"row has no id in column {config.id_column!r} (columns: {sorted(row)})")
    return str(value)


def _annotate(
    row: dict[str, Any], cluster: str, kept_id: str | None, reason: str | None
) -> dict[str, Any]:
    out = dict(row)
    out["dedup_cluster"] = cluster
    if reason is not None:
        out["kept_id"] = kept_id
        out["reason"] = reason
    return out


# ----------------------------------------------------------------------------- exact dedup


class _PickExactFn(StageFn):
    """One group of rows with the same normalised text -> one kept, the rest removed."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: MinHashConfig) -> None:
        self._config = config

    def process(self, item: tuple[str, Iterable[dict[str, Any]]]) -> Iterator[Any]:
        _, rows = item
        rows = list(rows)
        keys = [rank_key(r, self._config) for r in rows]
        rep = choose_representative(keys)
        self.seen(len(rows), counter="exact_total")
        seen_rep = False
        for row, key in zip(rows, keys, strict=True):
            if key.id == rep and not seen_rep:
                seen_rep = True
                yield self.keep(_annotate(row, rep, None, None), counter="exact_kept")
            else:
                yield self.reject(
                    _annotate(row, rep, rep, Reason.EXACT.value),
                    Reason.EXACT.value,
                    counter=None,
                    tag=REMOVED,
                )


class ExactDedup(beam.PTransform):
    """Rows -> ``{"kept", "removed"}``: one row per normalised text (SHA-1 of the text)."""

    def __init__(self, config: MinHashConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        cfg = self._config
        out = (
            rows
            | "KeyByTextHash" >> beam.Map(lambda r: (text_hash(row_text(r, cfg)), r))
            | "GroupByTextHash" >> beam.GroupByKey()
            | "PickExactRepresentative"
            >> beam.ParDo(_PickExactFn(cfg)).with_outputs(REMOVED, main=KEPT)
        )
        return {KEPT: out[KEPT], REMOVED: out[REMOVED]}


# ------------------------------------------------------------------------------ near dedup


class _SignatureFn(StageFn):
    """A batch of rows -> band-key chunks ``(partition, (keys, ids, rank keys))`` and, for
    verification, payloads ``(id, signature or text)``.

    Band keys are routed to ``lsh_partitions`` Beam keys (``key % partitions``) in chunks,
    one element per partition per batch instead of one per (row, band): the per-element cost
    of a runner dominates otherwise (25 elements per row). Buckets are then found in memory
    inside each partition (:func:`_partition_pairs`).
    """

    PAYLOAD = "payload"

    NAMESPACE = NAMESPACE

    def __init__(self, config: MinHashConfig) -> None:
        self._config = config

    def process(self, batch: list[dict[str, Any]]) -> Iterator[Any]:
        cfg = self._config
        start = time.perf_counter()
        texts = [row_text(r, cfg) for r in batch]
        sigs = signatures(texts, cfg.num_perm, cfg.ngram, cfg.seed)
        bands, rows = cfg.band_rows
        keys = band_keys(sigs, bands, rows, cfg.seed)
        self.seen(len(batch), counter="near_total")
        ids, ranks, valid = [], [], []
        for i, (row, text, sig) in enumerate(zip(batch, texts, sigs, strict=True)):
            if is_empty(sig):  # no shingles: exact dedup handles empty texts
                self.count("near_empty_text")
                continue
            rid = row_id(row, cfg)
            ids.append(rid)
            ranks.append(rank_key(row, cfg))
            valid.append(i)
            if cfg.verify == "signature":
                yield beam.pvalue.TaggedOutput(self.PAYLOAD, (rid, sig))
            elif cfg.verify == "exact":
                yield beam.pvalue.TaggedOutput(self.PAYLOAD, (rid, text))
        if valid:
            flat = keys[np.asarray(valid)].ravel()  # row-major: entry j belongs to row j // bands
            owner = np.repeat(np.arange(len(valid)), bands)
            part = (flat % np.uint64(cfg.lsh_partitions)).astype(np.int64)
            order = np.argsort(part, kind="stable")
            part, flat, owner = part[order], flat[order], owner[order]
            cuts = np.flatnonzero(np.diff(part)) + 1
            for seg in np.split(np.arange(len(part)), cuts):
                members = owner[seg].tolist()
                yield (
                    int(part[seg[0]]),
                    BandChunk(flat[seg], [ids[m] for m in members], [ranks[m] for m in members]),
                )
        self.latency((time.perf_counter() - start) * 1000, "signature_batch_ms")


class BandChunk(NamedTuple):
    """One signature batch's band keys that fall into one LSH partition, with their rows."""

    keys: np.ndarray  # band keys; entry j belongs to row ids[j]
    ids: list[str]
    ranks: list[RankKey]


class End(NamedTuple):
    """One end of a candidate edge: a row id and its representative rank."""

    id: str
    rank: RankKey


class Edge(NamedTuple):
    """A candidate (then verified) near-duplicate pair; ``first`` sorts before ``second``."""

    first: End
    second: End


def _partition_pairs(item: tuple[int, Iterable[BandChunk]], max_bucket_size: int) -> Iterator[Edge]:
    """All LSH buckets of one partition -> candidate edges."""
    _, chunks = item
    chunks = [BandChunk(*c) for c in chunks]
    keys = np.concatenate([c.keys for c in chunks])
    ids = [i for c in chunks for i in c.ids]
    ranks = [r for c in chunks for r in c.ranks]
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]]))
    ends = np.append(starts[1:], len(sorted_keys))
    for lo, hi in zip(
        starts[ends - starts > 1].tolist(), ends[ends - starts > 1].tolist(), strict=True
    ):
        bucket = {ids[j]: ranks[j] for j in order[lo:hi].tolist()}
        for a, b in candidate_edges(bucket, max_bucket_size):
            yield Edge(End(a, bucket[a]), End(b, bucket[b]))


def _similar(payload_a: Any, payload_b: Any, config: MinHashConfig) -> bool:
    if config.verify == "signature":
        return estimated_jaccard(np.asarray(payload_a), np.asarray(payload_b)) >= config.threshold
    return jaccard(payload_a, payload_b, config.ngram) >= config.threshold


def _first_end(item: tuple[str, dict[str, list]]) -> Iterator[tuple[str, tuple]]:
    """Join 1: attach the first end's payload to each edge, re-key by the second end."""
    _, grouped = item
    payloads = grouped["payload"]
    if not payloads:
        return
    for edge in grouped["edge"]:
        yield Edge(*edge).second.id, (edge, payloads[0])


class _SecondEndFn(StageFn):
    """Join 2: both payloads are here; keep the edge if the pair is similar enough."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: MinHashConfig) -> None:
        self._config = config

    def process(self, item: tuple[str, dict[str, list]]) -> Iterator[Any]:
        _, grouped = item
        payloads = grouped["payload"]
        if not payloads:
            return
        for edge, payload_a in grouped["half"]:
            self.count("pairs_checked")
            if _similar(payload_a, payloads[0], self._config):
                self.count("pairs_verified")
                yield edge


class _ComponentsFn(beam.CombineFn):
    """Global union-find over all edges; output: ``[(id, representative id), ...]``.

    The accumulator is ``(UnionFind, {id: rank_key})``. Merging unions every parent link of
    the other accumulator, so partial results from any split of the edges give the same
    components. Only rows with an edge are ever held.
    """

    def create_accumulator(self) -> tuple[UnionFind, dict[str, tuple]]:
        return UnionFind(), {}

    def add_input(self, acc, edge):
        uf, ranks = acc
        (a, rank_a), (b, rank_b) = edge
        ranks[a] = rank_a
        ranks[b] = rank_b
        uf.union(a, b)
        return acc

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        uf, ranks = next(accumulators)
        for other_uf, other_ranks in accumulators:
            uf.merge(other_uf)
            ranks.update(other_ranks)
        return uf, ranks

    def extract_output(self, acc) -> list[tuple[str, str]]:
        uf, ranks = acc
        members: dict[str, list[str]] = {}
        for node, root in uf.components().items():
            members.setdefault(root, []).append(node)
        out = []
        for nodes in members.values():
            rep = choose_representative(ranks[n] for n in nodes)
            out.extend((n, rep) for n in nodes)
        return out


class _ApplyRepresentativeFn(StageFn):
    """``(id, {"row": [row], "rep": [rep id]})`` -> kept or removed row."""

    NAMESPACE = NAMESPACE

    def __init__(self, config: MinHashConfig) -> None:
        self._config = config

    def process(self, item: tuple[str, dict[str, list]]) -> Iterator[Any]:
        rid, grouped = item
        rows, reps = list(grouped["row"]), list(grouped["rep"])
        if len(rows) != 1:
            raise ValueError(
                f"id column {self._config.id_column!r} must be unique: {rid!r} appears {len(rows)} times"
            )
        rep = reps[0] if reps else rid
        if rep == rid:
            yield self.keep(_annotate(rows[0], rid, None, None), counter="near_kept")
        else:
            yield self.reject(
                _annotate(rows[0], rep, rep, Reason.NEAR.value),
                Reason.NEAR.value,
                counter=None,
                tag=REMOVED,
            )


class CandidateEdges(beam.PTransform):
    """Rows -> verified LSH edges ``((a, rank_a), (b, rank_b))`` (steps 1-4 above)."""

    def __init__(self, config: MinHashConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        cfg = self._config
        sig = (
            rows
            | "BatchForSignatures"
            >> beam.BatchElements(min_batch_size=8, max_batch_size=cfg.batch_size)
            | "Signatures"
            >> beam.ParDo(_SignatureFn(cfg)).with_outputs(_SignatureFn.PAYLOAD, main="keys")
        )
        edges = (
            sig["keys"]
            | "GroupByBandPartition" >> beam.GroupByKey()
            | "CandidatePairs" >> beam.FlatMap(_partition_pairs, cfg.max_bucket_size)
        )
        if cfg.verify == "none":
            return edges
        by_first = (
            edges
            | "DistinctCandidates" >> beam.Distinct()
            | "KeyByFirstEnd" >> beam.Map(lambda e: (Edge(*e).first.id, e))
        )
        halves = (
            {"payload": sig[_SignatureFn.PAYLOAD], "edge": by_first}
            | "JoinFirstEnd" >> beam.CoGroupByKey()
            | "AttachFirstEnd" >> beam.FlatMap(_first_end)
        )
        return (
            {"payload": sig[_SignatureFn.PAYLOAD], "half": halves}
            | "JoinSecondEnd" >> beam.CoGroupByKey()
            | "VerifyPairs" >> beam.ParDo(_SecondEndFn(cfg))
        )


class NearDedup(beam.PTransform):
    """Rows -> ``{"kept", "removed"}``: one row per MinHash LSH connected component."""

    def __init__(self, config: MinHashConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        cfg = self._config
        assignment = (
            rows
            | "CandidateEdges" >> CandidateEdges(cfg)
            | "Components" >> beam.CombineGlobally(_ComponentsFn())
            | "ComponentMembers" >> beam.FlatMap(lambda pairs: pairs)
        )
        keyed = rows | "KeyById" >> beam.Map(lambda r: (row_id(r, cfg), r))
        out = (
            {"row": keyed, "rep": assignment}
            | "JoinRepresentative" >> beam.CoGroupByKey()
            | "ApplyRepresentative"
            >> beam.ParDo(_ApplyRepresentativeFn(cfg)).with_outputs(REMOVED, main=KEPT)
        )
        return {KEPT: out[KEPT], REMOVED: out[REMOVED]}


def _resolve_exact(item: tuple[str, dict[str, list]]) -> Iterator[dict[str, Any]]:
    """An exact duplicate whose representative was later near-removed points to the final one."""
    _, grouped = item
    final = grouped["near"]
    for row in grouped["exact"]:
        if final:
            row = {**row, "dedup_cluster": final[0][0], "kept_id": final[0][1]}
        yield row


class Dedup(beam.PTransform):
    """Exact then near dedup, with every removed row pointing at a row that was kept.

    (Chained separately, an exact duplicate's ``kept_id`` may name a row that near-dedup
    removed; this composite resolves that with one join on the exact representatives.)
    """

    def __init__(self, config: MinHashConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows):
        exact = rows | "ExactDedup" >> ExactDedup(self._config)
        near = exact[KEPT] | "NearDedup" >> NearDedup(self._config)
        cfg = self._config
        near_final = near[REMOVED] | "NearFinal" >> beam.Map(
            lambda r: (row_id(r, cfg), (r["dedup_cluster"], r["kept_id"]))
        )
        exact_by_rep = exact[REMOVED] | "KeyByExactRep" >> beam.Map(lambda r: (r["kept_id"], r))
        resolved = (
            {"exact": exact_by_rep, "near": near_final}
            | "JoinExactRep" >> beam.CoGroupByKey()
            | "ResolveExact" >> beam.FlatMap(_resolve_exact)
        )
        removed = (resolved, near[REMOVED]) | "FlattenRemoved" >> beam.Flatten()
        return {KEPT: near[KEPT], REMOVED: removed}


# ------------------------------------------------------------------------------ file I/O


def _is_parquet(path: str) -> bool:
    return path.lower().endswith((".parquet", ".pq"))


def input_schema(path: str):
    """The pyarrow schema of a parquet file, or one inferred from every line of a JSONL file."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import FileSystems

    if not FileSystems.exists(path):
        raise ValueError(f"input {path!r} does not exist")
    if _is_parquet(path):
        with FileSystems.open(path) as f:
            return pq.read_schema(f)
    schemas, chunk = [], []
    with FileSystems.open(path) as f:  # decompresses .gz by extension
        for line in f:
            if line.strip():
                chunk.append(json.loads(line))
            if len(chunk) >= 10_000:
                schemas.append(pa.Table.from_pylist(chunk).schema)
                chunk = []
    if chunk:
        schemas.append(pa.Table.from_pylist(chunk).schema)
    if not schemas:
        raise ValueError(f"input {path!r} has no rows")
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema])


def output_schema(schema, removed: bool, with_split: bool):
    """The input schema plus the string columns dedup adds (replacing same-named ones)."""
    import pyarrow as pa

    added = (
        ["dedup_cluster"]
        + (["kept_id", "reason", "eval_match"] if removed else [])
        + (["split"] if with_split else [])
    )
    fields = [f for f in schema if f.name not in added]
    return pa.schema(fields + [pa.field(name, pa.string()) for name in added])


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


class ReadRows(beam.PTransform):
    """A parquet or JSONL file -> row dicts with every column."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, pbegin):
        if _is_parquet(self._path):
            return pbegin | "ReadParquet" >> beam.io.ReadFromParquet(self._path)
        return (
            pbegin
            | "ReadLines" >> beam.io.ReadFromText(self._path)
            | "DropBlank" >> beam.Filter(lambda line: bool(line.strip()))
            | "ParseJson" >> beam.Map(json.loads)
        )


# ------------------------------------------------------------------------------------ CLI


def parser() -> argparse.ArgumentParser:
    """The dedup CLI's flags; the MinHash and split settings share their defaults and help with
    the pipeline's (``MinHashConfig``, ``SplitConfig``; ``pipeline/settings.py``)."""
    from pipeline.splits import SplitConfig

    p = argparse.ArgumentParser(
        prog="python -m pipeline.dedup",
        description="Exact + MinHash LSH near-dedup (and optional decontamination) of a parquet/JSONL file.",
    )
    p.add_argument("--input", required=True, help="parquet or JSONL (.jsonl/.json/.jsonl.gz) file")
    p.add_argument(
        "--output", required=True, help="directory for kept.parquet, removed.parquet, stats.json"
    )
    p.add_argument("--column", default="code", help="text column (default: code)")
    p.add_argument("--id_column", default="id", help="unique id column (default: id)")
    add_flag(p, MinHashConfig, "threshold", name="threshold")
    add_flag(p, MinHashConfig, "num_perm")
    add_flag(p, MinHashConfig, "ngram")
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seeds the MinHash permutations and the split assignment (default: {DEFAULT_SEED})",
    )
    p.add_argument(
        "--verify",
        default=field_default(MinHashConfig, "verify"),
        choices=list(VERIFY_MODES),
        help="check LSH candidates by estimated (signature) or true (exact) Jaccard",
    )
    p.add_argument(
        "--false_positive_weight",
        type=float,
        default=field_default(MinHashConfig, "false_positive_weight"),
        help="LSH optimiser weight (datasketch: 0.5)",
    )
    p.add_argument(
        "--false_negative_weight",
        type=float,
        default=field_default(MinHashConfig, "false_negative_weight"),
        help="LSH optimiser weight (datasketch: 0.5; 0.9 with --false_positive_weight=0.1 favours recall)",
    )
    p.add_argument(
        "--max_bucket_size",
        type=int,
        default=field_default(MinHashConfig, "max_bucket_size"),
        help="buckets above this emit a star, not all pairs",
    )
    p.add_argument(
        "--decontaminate", default="", help="comma-separated eval sets: paths and/or 'humaneval'"
    )
    p.add_argument(
        "--eval_column", default=None, help="text column of the eval sets (default: guessed)"
    )
    p.add_argument(
        "--split_fractions",
        default=None,
        help="also assign train,validation,test by repository hash, e.g. 0.8,0.1,0.1",
    )
    p.add_argument("--split_column", default=field_default(SplitConfig, "column"))
    return p


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    return parser().parse_known_args(argv)


def main(argv: list[str] | None = None) -> int:
    from apache_beam.options.pipeline_options import PipelineOptions

    args, beam_args = _parse(argv)
    unknown = unknown_beam_flags(beam_args, own=parser(), exclude=("CodeTransOptions",))
    if unknown:  # Beam would only log "Discarding unparseable args" and go on
        print(f"error: {unknown}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = MinHashConfig(
            num_perm=args.num_perm,
            ngram=args.ngram,
            threshold=args.threshold,
            seed=args.seed,
            column=args.column,
            id_column=args.id_column,
            verify=args.verify,
            max_bucket_size=args.max_bucket_size,
            false_positive_weight=args.false_positive_weight,
            false_negative_weight=args.false_negative_weight,
        )
        schema = input_schema(args.input)
        for col in (args.column, args.id_column):
            if schema.get_field_index(col) < 0:
                raise ValueError(f"{args.input} has no column {col!r} (columns: {schema.names})")
        eval_sets = [s.strip() for s in args.decontaminate.split(",") if s.strip()]
        split_config = None
        if args.split_fractions:
            from pipeline.splits import SplitConfig

            fractions = tuple(float(x) for x in args.split_fractions.split(","))
            split_config = SplitConfig(
                fractions=fractions,
                seed=args.seed,
                column=args.split_column,
                id_column=args.id_column,
            )
        decon = None
        if eval_sets:
            from pipeline.decontaminate import Decontaminate

            decon = Decontaminate(config, eval_sets, column=args.eval_column)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept_schema = output_schema(schema, removed=False, with_split=split_config is not None)
    removed_schema = output_schema(schema, removed=True, with_split=False)
    started = time.perf_counter()
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    rows = pipeline | "ReadRows" >> ReadRows(args.input)
    dedup = rows | "Dedup" >> Dedup(config)
    kept, removed = dedup[KEPT], [dedup[REMOVED]]
    if decon is not None:
        cleaned = kept | "Decontaminate" >> decon
        kept = cleaned[KEPT]
        removed.append(cleaned[REMOVED])
    if split_config is not None:
        from pipeline.splits import AssignSplits

        kept = kept | "AssignSplits" >> AssignSplits(split_config)
    kept | "WriteKept" >> WriteRows(str(out_dir / "kept"), kept_schema, shard_name_template="")
    (tuple(removed) | "FlattenAllRemoved" >> beam.Flatten()) | "WriteRemoved" >> WriteRows(
        str(out_dir / "removed"), removed_schema, shard_name_template=""
    )
    result = pipeline.run()
    result.wait_until_finish()
    elapsed = time.perf_counter() - started

    stats = _stats(out_dir, config, eval_sets, result, elapsed, count_rows)
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    LOG.info(
        "dedup: %d rows in, %d kept, %d removed in %.1f s -> %s",
        stats["rows_in"],
        stats["kept"],
        stats["removed"],
        elapsed,
        out_dir,
    )
    return 0


def _stats(
    out_dir: Path, config: MinHashConfig, eval_sets: list[str], result, elapsed: float, count_rows
) -> dict:
    import collections

    import pyarrow.parquet as pq

    kept = count_rows(out_dir / "kept.parquet")
    reasons = collections.Counter(
        pq.read_table(out_dir / "removed.parquet", columns=["reason"]).column(0).to_pylist()
    )
    counters: dict[str, int] = {}
    try:
        for c in result.metrics().query().get("counters", []):
            value = c.committed if c.committed is not None else c.attempted
            key = f"{c.key.metric.namespace}/{c.key.metric.name}"
            counters[key] = counters.get(key, 0) + int(value or 0)
    except Exception as err:  # some runners do not report metrics; the counts above suffice
        LOG.warning("no Beam metrics from this runner: %s", err)
    bands, rows = config.band_rows
    removed = sum(reasons.values())
    return {
        "rows_in": kept + removed,
        "kept": kept,
        "removed": removed,
        "removed_by_reason": dict(sorted(reasons.items())),
        "config": {
            "minhash": str(config),
            "num_perm": config.num_perm,
            "ngram": config.ngram,
            "threshold": config.threshold,
            "bands": bands,
            "rows": rows,
            "seed": config.seed,
            "verify": config.verify,
            "column": config.column,
            "id_column": config.id_column,
            "eval_sets": eval_sets,
        },
        "metrics": dict(sorted(counters.items())),
        "seconds": round(elapsed, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
