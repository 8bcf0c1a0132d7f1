"""Reading a Hub-style dataset with ``hf:`` against the same rows as ``parquet:`` files.

Corpus: ``--rows`` (default 50,000) rows with the Hub ``code_search_net`` columns
(``repository_name``, ``func_path_in_repository``, ``func_name``, ``whole_func_string``,
``func_code_string``, ``func_code_tokens``, ``func_documentation_string``,
``func_documentation_tokens``, ``language``, ``split_name``, ``func_code_url``), built from
real documented top-level functions of this Python's standard library (cycled, each copy
under its own repository/path so every row is a distinct pair). Written three ways:
``datasets.Dataset.save_to_disk(num_shards=8)``, and 8 parquet files in the Hub layout
``data/train-0000K-of-00008.parquet``.

Rows (``>1 = faster``):
* ``cli hf:save_to_disk``: ``python -m pipeline.sources SPEC`` as a child process (resolve +
  read + validate + doctest extraction; interpreter start-up and imports included), baseline
  ``parquet:DIR`` (same rows), candidate ``hf:SAVED_DIR``. Times are the child's CPU seconds
  (user + sys: the machine is shared, so wall time mostly measures the neighbours); the
  CLI's own ``rows_per_s`` (wall clock) is printed beside them.
* ``cli hf:parquet folder``: the same, candidate ``hf:DIR`` over the very parquet files.
* ``read only ...``: in-process CPU seconds to turn every unit into row dicts, without
  validation: baseline the ``parquet:`` reader (``pipeline.sources.files.read_parquet``),
  candidate the ``hf:`` shard reader (``pipeline.sources.hub.read_shard``).
Median of ``--repeats`` runs after one warm-up run.

    .venv/bin/python bench/bench_sources_hub.py [--rows 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARDS = 8


def stdlib_functions(limit: int = 5000) -> list[tuple[str, str, str, str]]:
    """(module path, function name, code, docstring) of documented top-level stdlib functions."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for path in sorted(stdlib.glob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node):
                code = ast.get_source_segment(text, node)
                if code and code.count("\n") >= 2 and len(code) <= 4000:
                    out.append(
                        (
                            path.name,
                            node.name,
                            code + "\n",
                            ast.get_docstring(node).split("\n\n")[0],
                        )
                    )
                    if len(out) >= limit:
                        return out
    return out


def csn_hub_rows(n: int) -> list[dict]:
    funcs = stdlib_functions()
    rows = []
    for i in range(n):
        module, name, code, doc = funcs[i % len(funcs)]
        repo = f"org{i % 97}/repo{i // len(funcs)}"
        rows.append(
            {
                "repository_name": repo,
                "func_path_in_repository": f"lib/{module}",
                "func_name": name,
                "whole_func_string": code,
                "language": "python",
                "func_code_string": code,
                "func_code_tokens": code.split(),
                "func_documentation_string": doc,
                "func_documentation_tokens": doc.split(),
                "split_name": "train",
                "func_code_url": f"https://github.com/{repo}/blob/{'0' * 40}/lib/{module}#L1-L{code.count(chr(10))}",
            }
        )
    return rows


def write_corpus(directory: Path, rows: list[dict]) -> tuple[Path, Path]:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    datasets.disable_progress_bars()
    saved = directory / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(str(saved), num_shards=SHARDS)
    folder = directory / "parquet"
    (folder / "data").mkdir(parents=True)
    per = -(-len(rows) // SHARDS)
    for k in range(SHARDS):
        table = pa.Table.from_pylist(rows[k * per : (k + 1) * per])
        pq.write_table(table, folder / "data" / f"train-{k:05d}-of-{SHARDS:05d}.parquet")
    return saved, folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_run(spec: str) -> tuple[float, float, int]:
    """(child CPU seconds, the CLI's rows_per_s, rows) of ``python -m pipeline.sources SPEC``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    before = _children_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.sources", spec],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    summary = json.loads(done.stdout)
    return _children_cpu() - before, summary["rows_per_s"], summary["total"]


def units(spec: str) -> int:
    sys.path.insert(0, str(ROOT))
    from pipeline.sources import resolve_spec

    return len(resolve_spec(spec))


def measure(spec: str, repeats: int) -> tuple[float, float, int]:
    """Median (child CPU s, CLI rows/s) over ``repeats`` runs after a warm-up, and the row count."""
    cli_run(spec)
    runs = [cli_run(spec) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[0][2]


def read_only(spec: str, repeats: int) -> tuple[float, int]:
    """Median in-process CPU seconds to read every unit of ``spec`` into row dicts, and the rows."""
    sys.path.insert(0, str(ROOT))
    from pipeline.sources import resolve_spec
    from pipeline.sources.files import read_parquet
    from pipeline.sources.hub import read_shard

    units = resolve_spec(spec)

    def once() -> int:
        n = 0
        for unit in units:
            rows = read_shard(unit.hub) if unit.fmt == "hf" else read_parquet(unit.location)
            n += sum(1 for _ in rows)
        return n

    n = once()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        once()
        times.append(time.process_time() - start)
    return statistics.median(times), n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.rows < SHARDS or args.repeats < 1:
        raise ValueError(f"--rows must be >= {SHARDS} and --repeats >= 1")
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        saved, folder = write_corpus(Path(tmp), csn_hub_rows(args.rows))
        base_spec = f"parquet:{folder}"
        cases = [("hf:save_to_disk", f"hf:{saved}"), ("hf:parquet folder", f"hf:{folder}")]
        versions = ", ".join(
            f"{p} {importlib.metadata.version(p)}" for p in ("datasets", "pyarrow", "apache-beam")
        )
        print(
            f"# hf: source read rate, ratio = baseline s / candidate s (>1 = faster); {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs (shared), Python {platform.python_version()}, {versions}"
        )
        print(
            f"# baseline: {base_spec.split(':')[0]}: ({units(base_spec)} units); median of {args.repeats} after a warm-up"
        )
        base_s, base_rate, n = measure(base_spec, args.repeats)
        print("case | baseline | candidate | ratio | n")
        for name, spec in cases:
            secs, rate, rows = measure(spec, args.repeats)
            if rows != n:
                raise RuntimeError(f"{spec} read {rows} rows, the baseline {n}")
            print(
                f"cli {name} ({units(spec)} units) | {base_s:.2f} CPU s ({base_rate:,.0f} rows/s wall) | "
                f"{secs:.2f} CPU s ({rate:,.0f} rows/s wall) | {base_s / secs:.2f}x | {n}"
            )
        base_read, n = read_only(base_spec, args.repeats)
        for name, spec in cases:
            secs, rows = read_only(spec, args.repeats)
            if rows != n:
                raise RuntimeError(f"{spec} read {rows} rows, the baseline {n}")
            print(
                f"read only {name} | {base_read:.2f} CPU s | {secs:.2f} CPU s | {base_read / secs:.2f}x | {n}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
