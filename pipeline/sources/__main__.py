"""``python -m pipeline.sources SPEC``: read a source without running the pipeline.

Prints one JSON object: the source's counts (rows kept and rejected by reason, tests
extracted and skipped, functions filtered out by ``repo:``, files read and skipped) and the
read rate. ``--table`` adds a per-language table (files read, functions found, pairs kept,
rejected, and each CodeSearchNet filter). With ``--output FILE.jsonl`` it also writes every
record (pairs, candidates, rejected rows) as JSON lines, to inspect what the pipeline would
receive.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipeline.sources.core import DEFAULT_MAX_CODE_BYTES, SourceConfig, SourceError, SourceStats
from pipeline.sources.licenses import parse_license_policy
from pipeline.sources.spec import SPEC_HELP, read_source
from schemas import Candidate, RejectedRow, SourcePair


def _record_json(record: SourcePair | Candidate | RejectedRow) -> dict:
    if isinstance(record, Candidate):
        return {
            "kind": "candidate",
            "pair": record.pair.to_row(),
            "translation": record.translation.to_row(),
        }
    kind = "rejected" if isinstance(record, RejectedRow) else "pair"
    return {"kind": kind, **record.to_row()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sources", description=__doc__.splitlines()[0]
    )
    parser.add_argument("spec", help=SPEC_HELP)
    parser.add_argument("--max_code_bytes", type=int, default=DEFAULT_MAX_CODE_BYTES)
    parser.add_argument(
        "--licenses", default="any", help="any | permissive | comma-separated SPDX ids"
    )
    parser.add_argument("--output", default=None, help="write every record as JSON lines here")
    parser.add_argument("--table", action="store_true", help="also print a per-language table")
    args = parser.parse_args(argv)
    try:
        config = SourceConfig(
            max_code_bytes=args.max_code_bytes, licenses=parse_license_policy(args.licenses)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = SourceStats()
    started = time.perf_counter()
    out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
    try:
        for record in read_source(args.spec, config, stats):
            _count_language(record, stats)
            if out is not None:
                out.write(json.dumps(_record_json(record), ensure_ascii=False) + "\n")
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
    elapsed = time.perf_counter() - started
    summary = {
        "spec": args.spec,
        **stats.as_dict(),
        "seconds": round(elapsed, 3),
        "rows_per_s": round(stats.total / elapsed, 1) if elapsed > 0 else None,
    }
    print(json.dumps(summary, indent=1))
    if args.table:
        print_language_table(stats, elapsed)
    return 0


def _count_language(record: SourcePair | Candidate | RejectedRow, stats: SourceStats) -> None:
    if isinstance(record, RejectedRow):
        stats.by_language[record.language or "unknown", "rejected"] += 1
    else:
        pair = record.pair if isinstance(record, Candidate) else record
        stats.by_language[pair.language, "pairs"] += 1


def print_language_table(stats: SourceStats, elapsed: float) -> None:
    """Files read, functions found, pairs kept, rows rejected and each filter, per language."""
    from rich.console import Console
    from rich.table import Table

    languages = sorted({language for language, _ in stats.by_language})
    filters = sorted({what for _, what in stats.by_language if what.startswith("filtered_")})
    columns = ["files_read", "functions", "pairs", "rejected", *filters]
    table = Table(
        title=f"{stats.kept} pairs in {elapsed:.1f} s ({stats.repositories} repositories)"
    )
    table.add_column("language")
    for column in columns:
        table.add_column(column.removeprefix("filtered_"), justify="right")
    for language in [*languages, "total"]:
        values = [
            sum(
                n
                for (lang, what), n in stats.by_language.items()
                if what == column and language in (lang, "total")
            )
            for column in columns
        ]
        table.add_row(language, *(f"{v:,}" for v in values))
    Console(width=200).print(table)


if __name__ == "__main__":
    sys.exit(main())
