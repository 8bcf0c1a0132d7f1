"""The ``Translate`` stage end to end on Beam's DirectRunner with the py2many backend:
target choice, one output row per request, the resume cache and its counters."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import apache_beam as beam
import pytest

from pipeline.stats import beam_metrics
from pipeline.translate import (
    Translate,
    TranslateConfig,
    TranslationCache,
    TranslationRequest,
    make_translator,
    requests_for,
    resolve_translator,
    targets_for,
    throughput_from_metrics,
    translator_identity,
)
from pipeline.translate.py2many import Py2ManyTranslator
from schemas import SourcePair


def _pair(i: int, language: str = "python") -> SourcePair:
    if language == "python":
        code = f'def scale_{i}(x: int) -> int:\n    """Scale by {i}."""\n    return x * {i}\n'
    else:
        code = f"function scale_{i}(x) {{ return x * {i}; }}"
    return SourcePair.create(
        repository_name=f"octo/r{i % 3}",
        func_path_in_repository="m.py",
        func_name=f"scale_{i}",
        language=language,
        code=code,
        docstring=f"Scale by {i}.",
    )


PAIRS = [_pair(i) for i in range(6)] + [_pair(99, "javascript")]


def run_translate(pairs: list[SourcePair], config: TranslateConfig, out: Path, **kwargs) -> dict:
    """Run Translate on DirectRunner; return its outputs (as JSON rows) and metrics."""
    p = beam.Pipeline(runner="DirectRunner")
    result = p | beam.Create(pairs) | Translate(config, **kwargs)
    (
        result["candidates"]
        | "C" >> beam.Map(lambda c: json.dumps({"key": c.key, **c.translation.to_row()}))
        | "WC" >> beam.io.WriteToText(str(out / "candidates"))
    )
    (
        result["rejected"]
        | "R" >> beam.Map(lambda r: json.dumps(r.to_row()))
        | "WR" >> beam.io.WriteToText(str(out / "rejected"))
    )
    res = p.run()
    res.wait_until_finish()

    def read(prefix: str) -> list[dict]:
        return [
            json.loads(line)
            for f in sorted(out.glob(prefix + "*"))
            for line in f.read_text().splitlines()
        ]

    return {
        "candidates": read("candidates"),
        "rejected": read("rejected"),
        "metrics": beam_metrics(res),
    }


def test_targets_default_to_all_but_the_source_language():
    config = TranslateConfig(translator="py2many", target_languages=("python", "go", "rust"))
    assert targets_for(_pair(1), config) == ("go", "rust")
    assert targets_for(_pair(1, "javascript"), config) == ("python", "go", "rust")


def test_targets_per_pair_is_a_seeded_subset():
    targets = ("cpp", "go", "rust", "java", "javascript", "php", "ruby", "c")
    config = TranslateConfig(
        translator="py2many", target_languages=targets, targets_per_pair=1, seed=7
    )
    picks = [targets_for(_pair(i), config) for i in range(40)]
    assert all(len(t) == 1 for t in picks)
    assert picks == [targets_for(_pair(i), config) for i in range(40)]  # stable across calls
    assert len({t[0] for t in picks}) > 3  # spread over languages
    other = TranslateConfig(
        translator="py2many", target_languages=targets, targets_per_pair=1, seed=8
    )
    assert picks != [targets_for(_pair(i), other) for i in range(40)]


def test_requests_cover_targets_times_samples():
    config = TranslateConfig(translator="py2many", target_languages=("go", "rust"), num_samples=3)
    reqs = requests_for(_pair(1), config)
    assert [(r.target_language, r.attempt) for r in reqs] == [
        (t, a) for t in ("go", "rust") for a in range(3)
    ]
    assert len({r.key for r in reqs}) == 6


def test_config_validates_and_pickles():
    with pytest.raises(ValueError, match="klingon"):
        TranslateConfig(target_languages=("klingon",))
    with pytest.raises(ValueError, match="translator"):
        TranslateConfig(translator="magic")
    with pytest.raises(ValueError, match="--model"):
        TranslateConfig(translator="hf")
    with pytest.raises(ValueError, match="num_samples"):
        TranslateConfig(num_samples=0)
    config = TranslateConfig(
        translator="vllm",
        model="Qwen/Qwen2.5-Coder-7B-Instruct",
        vllm_server_kwargs={"max-num-seqs": "256", "gpu-memory-utilization": "0.9"},
    )
    again = pickle.loads(pickle.dumps(config))
    assert again == config and dict(again.vllm_server_kwargs)["max-num-seqs"] == "256"
    with pytest.raises(TypeError):
        config.vllm_server_kwargs["x"] = "1"  # frozen all the way down


def test_auto_picks_py2many_without_gpu_or_model(caplog):
    caplog.set_level("INFO")
    assert resolve_translator(TranslateConfig(translator="auto")) == "py2many"
    assert "picked py2many" in caplog.text and "no --model" in caplog.text
    assert isinstance(make_translator(TranslateConfig(translator="auto")), Py2ManyTranslator)


def test_translate_emits_one_row_per_request_and_resumes_from_cache(tmp_path):
    config = TranslateConfig(
        translator="py2many",
        target_languages=("go", "rust", "java"),
        cache_dir=str(tmp_path / "cache"),
        num_samples=1,
    )
    first = run_translate(PAIRS, config, tmp_path / "run1")
    expected = sum(len(requests_for(p, config)) for p in PAIRS)
    got = first["candidates"] + first["rejected"]
    assert len(got) == expected == 6 * 2 + 6 + 3  # python: go, rust, java; js: go, rust, java
    keys = {c["key"] for c in first["candidates"]} | {
        f"{r['pair_id']}/{r['target_language']}/{r['attempt']}" for r in first["rejected"]
    }
    assert len(keys) == expected  # nothing lost, nothing doubled
    reasons = sorted({r["reason"] for r in first["rejected"]})
    assert reasons == ["unsupported_source_language", "unsupported_target_language"]
    assert {c["target_language"] for c in first["candidates"]} == {"go", "rust"}
    c1 = first["metrics"]["counters"]
    assert c1["translate/total"] == expected and c1["translate/cache_misses"] == expected
    assert c1["translate/kept"] == 12 and c1["translate/dropped_unsupported_target_language"] == 6
    assert c1["translate/py2many_requests"] == 12  # only real transpilations count as requests

    second = run_translate(PAIRS, config, tmp_path / "run2")
    c2 = second["metrics"]["counters"]
    assert c2.get("translate/cache_misses", 0) == 0 and c2["translate/cache_hits"] == expected
    assert c2.get("translate/py2many_requests", 0) == 0
    same = lambda rows: sorted((c["key"], c["code"]) for c in rows)  # noqa: E731
    assert same(second["candidates"]) == same(first["candidates"])
    assert len(second["rejected"]) == len(first["rejected"])

    summary = throughput_from_metrics(first["metrics"])
    assert summary["cache_misses"] == expected and summary["backends"]["py2many"]["requests"] == 12
    assert summary["backends"]["py2many"]["latency_ms_mean"] > 0


def test_a_partial_earlier_run_is_not_redone(tmp_path):
    """A run killed halfway left some entries: the re-run generates only the rest."""
    config = TranslateConfig(
        translator="py2many", target_languages=("go",), cache_dir=str(tmp_path / "cache")
    )
    translator = Py2ManyTranslator(config)
    done = [TranslationRequest(p, "go") for p in PAIRS[:4]]
    cache = TranslationCache(config.cache_dir)
    cache.put_many(
        zip(done, translator.translate(done), strict=True), *translator_identity(config, "py2many")
    )
    cache.close()
    counters = run_translate(PAIRS[:6], config, tmp_path / "out")["metrics"]["counters"]
    assert counters["translate/cache_hits"] == 4 and counters["translate/cache_misses"] == 2


def test_cache_keys_on_model_prompt_sampling_and_attempt(tmp_path):
    cache = TranslationCache(tmp_path)
    req = TranslationRequest(PAIRS[0], "go", 0)
    translator = Py2ManyTranslator()
    (result,) = translator.translate([req])
    assert cache.put_many([(req, result)], "py2many:0.9", "none", "{}") == 1
    assert cache.get_many([req], "py2many:0.9", "none", "{}")[0].code == result.code
    assert cache.get_many([req], "py2many:1.0", "none", "{}") == [None]
    assert cache.get_many([req], "py2many:0.9", "v2", "{}") == [None]
    assert cache.get_many([req], "py2many:0.9", "none", '{"temperature":0.2}') == [None]
    assert cache.get_many([TranslationRequest(PAIRS[0], "go", 1)], "py2many:0.9", "none", "{}") == [
        None
    ]
    assert (cache.hits, cache.misses) == (1, 4)
    cache.close()
