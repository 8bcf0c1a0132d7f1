"""``python -m pipeline.sources SPEC``: read a source without running the pipeline.

Prints one JSON object: the source's counts (rows kept and rejected by reason, tests
extracted and skipped, functions filtered out by ``repo:``) and the read rate. With
``--output FILE.jsonl`` it also writes every record (pairs, candidates, rejected rows) as
JSON lines, to inspect what the pipeline would receive.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from pipeline.sources.core import DEFAULT_MAX_CODE_BYTES, SourceConfig, SourceError, SourceStats
from pipeline.sources.spec import SPEC_HELP, read_source
from schemas import Candidate, RejectedRow, SourcePair


def _record_json(record: SourcePair | Candidate | RejectedRow) -> dict:
    if isinstance(record, Candidate):
        return {"kind": "candidate", "pair": record.pair.to_row(), "translation": record.translation.to_row()}
    kind = "rejected" if isinstance(record, RejectedRow) else "pair"
    return {"kind": kind, **record.to_row()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.sources", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help=SPEC_HELP)
    parser.add_argument("--max_code_bytes", type=int, default=DEFAULT_MAX_CODE_BYTES)
    parser.add_argument("--output", default=None, help="write every record as JSON lines here")
    args = parser.parse_args(argv)
    try:
        config = SourceConfig(max_code_bytes=args.max_code_bytes)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = SourceStats()
    started = time.perf_counter()
    out = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115
    try:
        for record in read_source(args.spec, config, stats):
            if out is not None:
                out.write(json.dumps(_record_json(record), ensure_ascii=False) + "\n")
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not None:
            out.close()
    elapsed = time.perf_counter() - started
    summary = {"spec": args.spec, **stats.as_dict(), "seconds": round(elapsed, 3),
               "rows_per_s": round(stats.total / elapsed, 1) if elapsed > 0 else None}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
