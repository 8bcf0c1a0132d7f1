"""The ``vllm`` backend through Beam's real ``VLLMChatModelHandler`` and ``RunInference``.

vLLM needs a GPU and cannot run here. With ``tests/standins`` on ``PYTHONPATH``, the server
Beam starts (``python -m vllm.entrypoints.openai.api_server ...``) is the stand-in of that
module: vLLM's argument rules and request checks, OpenAI JSON replies, generation by a real
model (SmolLM2-135M-Instruct) on the CPU. Everything else is the real thing: Beam's handler
and its server process management, the ``openai`` client, HTTP on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import apache_beam as beam
import openai
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.translate import Reason, TranslateConfig, requests_for
from pipeline.translate.reaper import matching_descendants
from pipeline.translate.server_args import parse_server_kwargs
from pipeline.translate.vllm import (
    SampleGroup,
    ServerRejection,
    VLLMTranslator,
    _dead_letters,
    derived_max_model_len,
    inference_args,
    live_server_pids,
    make_vllm_handler,
    openai_messages,
    results_for,
    stop_vllm_servers,
)
from schemas import SourcePair
from tests.pipeline.local_model import ROOT, server_processes, smollm2_path, use_vllm_standin
from tests.pipeline.test_translate_transform import run_translate


def _pair(i: int, body_lines: int = 0) -> SourcePair:
    body = "".join(f"    x = x + {k}\n" for k in range(body_lines))
    return SourcePair.create(
        repository_name="o/r",
        func_path_in_repository="m.py",
        func_name=f"scale_{i}",
        language="python",
        code=f"def scale_{i}(x: int) -> int:\n{body}    return x * {i}\n",
        docstring=f"Scale by {i}.",
    )


def _config(tmp_path, marker: str, **overrides) -> TranslateConfig:
    """The vLLM config of these tests; ``marker`` (a seed flag) tells this test's servers apart."""
    flags = overrides.pop("flags", "")
    fields = {
        "translator": "vllm",
        "model": smollm2_path(),
        "max_tokens": 24,
        "temperature": 0.8,
        "num_samples": 2,
        "target_languages": ("go",),
        "cache_dir": str(tmp_path / "cache"),
        "vllm_server_kwargs": parse_server_kwargs(f"seed={marker},{flags}"),
        **overrides,
    }
    return TranslateConfig(**fields)


def _marker() -> str:
    return str(uuid.uuid4().int % 10**9)


# --- without a server --------------------------------------------------------------------


def test_samples_are_one_request_with_n_and_greedy_samples_are_refused():
    config = TranslateConfig(translator="vllm", model="m", num_samples=3, temperature=0.6, seed=11)
    assert inference_args(config) == {
        "max_tokens": 1024,
        "temperature": 0.6,
        "top_p": 1.0,
        "seed": 11,
        "n": 3,
    }
    with pytest.raises(ValueError, match="identical greedy samples"):
        TranslateConfig(translator="vllm", model="m", num_samples=3, temperature=0.0)
    with pytest.raises(
        ValueError, match="must not set api-key"
    ):  # Beam's client could never authenticate
        TranslateConfig(translator="vllm", model="m", vllm_server_kwargs={"api-key": "secret"})


def test_derived_max_model_len_follows_the_model_config():
    class Config:
        max_position_embeddings = 4096
        model_max_length = 8192
        rope_scaling = {"rope_type": "yarn", "factor": 4.0}

    assert derived_max_model_len(Config()) == 16384
    Config.rope_scaling = None
    assert derived_max_model_len(Config()) == 4096


def test_failed_batches_as_beam_emits_them_become_transient_rows(tmp_path):
    """Beam's dead letters are ``(batch, (exc_type, repr, traceback lines))``: read, not printed."""
    config = TranslateConfig(translator="vllm", model="m", num_samples=2, temperature=0.5)
    groups = [SampleGroup(_pair(1), "go", (0, 1)), SampleGroup(_pair(2), "rust", (1,))]

    def fail(batch):
        try:  # the HTTP library of the installed openai client
            import httpx2 as httpx
        except ImportError:
            import httpx
        request = httpx.Request("POST", "http://localhost:8000/v1/chat/completions")
        raise openai.APIConnectionError(message="Connection error.", request=request)

    with beam.Pipeline(runner="DirectRunner") as p:
        _, bad = (
            p | beam.Create([[(g, []) for g in groups]]) | beam.Map(fail).with_exception_handling()
        )
        rows = (
            bad
            | beam.FlatMap(_dead_letters(config))
            | beam.Map(
                lambda item: (item[0].key, item[1].reason, item[1].transient, item[1].detail)
            )
        )
        assert_that(
            rows,
            equal_to(
                [
                    (
                        f"{_pair(1).pair_id}/go/0",
                        "inference_error",
                        True,
                        "RunInference failed: openai.APIConnectionError: Connection error.",
                    ),
                    (
                        f"{_pair(1).pair_id}/go/1",
                        "inference_error",
                        True,
                        "RunInference failed: openai.APIConnectionError: Connection error.",
                    ),
                    (
                        f"{_pair(2).pair_id}/rust/1",
                        "inference_error",
                        True,
                        "RunInference failed: openai.APIConnectionError: Connection error.",
                    ),
                ]
            ),
        )


# --- through the stand-in server -----------------------------------------------------------


@pytest.mark.slow
def test_pipeline_samples_isolates_the_long_pair_and_leaves_no_server(
    tmp_path, monkeypatch, caplog
):
    use_vllm_standin(monkeypatch)
    caplog.set_level(logging.INFO)
    marker = _marker()
    config = _config(
        tmp_path,
        marker,
        flags="max-model-len=1024,enable-prefix-caching,enforce-eager,enable-log-requests",
    )
    pairs = [_pair(1), _pair(2), _pair(3, body_lines=150)]  # the last one does not fit 1024 tokens
    out = run_translate(pairs, config, tmp_path / "run")

    expected = sum(len(requests_for(p, config)) for p in pairs)
    assert len(out["candidates"]) + len(out["rejected"]) == expected == 6
    too_long = [r for r in out["rejected"] if r["reason"] == Reason.PROMPT_TOO_LONG]
    assert {r["pair_id"] for r in too_long} == {pairs[2].pair_id} and len(too_long) == 2
    assert "max-model-len 1024" in too_long[0]["detail"]
    for row in out["rejected"]:
        if row["reason"] != Reason.PROMPT_TOO_LONG:
            assert (
                row["reason"] in {Reason.TRUNCATED, Reason.EMPTY_REPLY}
                and row["raw_reply"] is not None
            ), row

    server_log = [r.getMessage() for r in caplog.records if "vLLM STAND-IN" in r.getMessage()]
    assert any(
        "'enable_prefix_caching': True" in m and "'enforce_eager': True" in m for m in server_log
    )
    sent = [m for m in server_log if "Received request" in m]
    assert len(sent) == 2 and all(
        "n=2," in m and "seed=1234," in m for m in sent
    )  # the long pair was never sent
    replies = {}
    for row in out["candidates"] + [r for r in out["rejected"] if r["raw_reply"] is not None]:
        replies.setdefault(row["pair_id"], set()).add(row["raw_reply"])
    assert any(len(samples) == 2 for samples in replies.values())  # the two samples differ
    counters = out["metrics"]["counters"]
    assert counters["translate/vllm_requests"] == 2 and counters["translate/vllm_tokens_out"] > 0
    assert counters["translate/vllm_prompt_too_long"] == 1

    assert live_server_pids() == [] and server_processes(marker) == []
    assert (
        matching_descendants(os.getpid(), "pipeline.translate.reaper") == []
    )  # the watchdog ended too

    caplog.clear()
    again = run_translate(
        pairs, config, tmp_path / "rerun"
    )  # everything cached, prompt_too_long included
    c2 = again["metrics"]["counters"]
    assert c2["translate/cache_hits"] == expected and c2.get("translate/cache_misses", 0) == 0
    assert not any(
        "vLLM STAND-IN" in r.getMessage() for r in caplog.records
    )  # no server was started


@pytest.mark.slow
def test_a_request_the_server_refuses_fails_alone(tmp_path, monkeypatch):
    """One HTTP 400 in a batch: the batch is split and retried; only that request is rejected."""
    use_vllm_standin(monkeypatch)
    marker = _marker()
    config = _config(tmp_path, marker, flags="max-model-len=1024")
    handler = make_vllm_handler(config)
    translator = VLLMTranslator(config, handler)
    try:
        groups = [
            SampleGroup(_pair(i, body_lines=150 if i == 2 else 0), "go", (0, 1))
            for i in range(1, 4)
        ]
        # Through the Translator interface the long prompt is caught before sending ...
        results = translator.translate([r for g in groups for r in g.requests()])
        assert [r.reason if hasattr(r, "reason") else "ok" for r in results][2:4] == [
            "prompt_too_long"
        ] * 2
        assert translator.stats()["requests"] == 2
        # ... sent anyway, the server refuses it (HTTP 400) and only it fails.
        batch = [(g, openai_messages(g.messages())) for g in groups]
        predictions = list(handler.run_inference(batch, translator._model, inference_args(config)))
        assert [type(p.inference).__name__ for _, p in predictions] == [
            "ChatCompletion",
            "ServerRejection",
            "ChatCompletion",
        ]
        rejection = predictions[1][1].inference
        assert isinstance(rejection, ServerRejection) and rejection.status == 400
        assert "maximum context length is 1024 tokens" in rejection.message
        (_, first), (_, second) = results_for(groups[1], rejection, config)
        assert first.reason == second.reason == Reason.PROMPT_TOO_LONG and not first.transient
        assert len(predictions[0][1].inference.choices) == 2  # n=2 samples in one reply
    finally:
        translator.close()
    assert server_processes(marker) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "message"),
    [("served-model-name=other-name", "HTTP 404"), ("max-num-seqs=many", "did not start")],
    ids=["server_serves_another_name", "server_does_not_start"],
)
def test_configuration_errors_stop_the_run_and_cache_nothing(tmp_path, monkeypatch, flags, message):
    from pipeline.run import translator_config_error

    use_vllm_standin(monkeypatch)
    marker = _marker()
    config = _config(tmp_path, marker, flags=flags)
    with pytest.raises(Exception) as info:
        run_translate([_pair(1), _pair(2)], config, tmp_path / "run")
    line = translator_config_error(info.value)
    assert line is not None and message in line and "\n" not in line
    from pipeline.translate import TranslationCache

    cache = TranslationCache(config.cache_dir)
    assert len(cache) == 0
    cache.close()
    assert server_processes(marker) == []


@pytest.mark.slow
def test_a_killed_pipeline_process_leaves_no_server(tmp_path, monkeypatch):
    """SIGKILL runs no Python code: the watchdog stops the server the dead process started."""
    use_vllm_standin(monkeypatch)
    marker = _marker()
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pipeline.translate import TranslateConfig
        from pipeline.translate.vllm import make_vllm_handler, live_server_pids
        config = TranslateConfig(translator="vllm", model={smollm2_path()!r}, vllm_server_kwargs={{"seed": "{marker}"}})
        server = make_vllm_handler(config).load_model()
        server.get_server_port()  # starts it
        print(live_server_pids()[0], flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=os.environ
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    server_pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server_processes(marker):
        time.sleep(0.5)
    assert server_processes(marker) == [], f"server {server_pid} survived its pipeline process"


def test_stop_is_safe_without_servers():
    assert stop_vllm_servers() == 0 and live_server_pids() == []
