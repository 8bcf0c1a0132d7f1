"""The ``openai`` backend on the official ``openai`` client.

Failure modes a remote endpoint shows (401, 429 with ``Retry-After``, 5xx, a body cut short,
a slow reply) are produced by ``_ScriptedEndpoint``, a stdlib HTTP server on 127.0.0.1 that
answers each request as the test scripts it: a remote server cannot be made to fail on cue.
The real model test runs ``transformers serve`` with SmolLM2-135M-Instruct (``local_model``).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.translate import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    TranslatorConfigError,
    preflight,
    requests_for,
)
from pipeline.translate.openai import OpenAITranslator
from schemas import SourcePair, Translation
from tests.pipeline.local_model import TransformersServe, free_port, smollm2_path
from tests.pipeline.test_translate_transform import run_translate

PAIR = SourcePair.create(
    repository_name="o/r",
    func_path_in_repository="a.py",
    func_name="add",
    language="python",
    code="def add(a: int, b: int) -> int:\n    return a + b\n",
    docstring="Add two ints.",
)
GO = "func Add(a int, b int) int {\n\treturn a + b\n}"


class _ScriptedEndpoint:
    """An OpenAI-style ``POST /v1/chat/completions`` endpoint whose answers a test scripts.

    ``script(call_index, body)`` returns ``(status, payload, delay_s, headers)``; a payload of
    ``b"..."`` is sent raw with a longer ``Content-Length`` than its size (a body cut short).
    """

    def __init__(self, script):
        self.script = script
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    index = len(outer.bodies)
                    outer.bodies.append(body)
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    outer.times.append(time.monotonic())
                status, payload, delay, headers = outer.script(index, body)
                time.sleep(delay)
                try:
                    if isinstance(
                        payload, bytes
                    ):  # cut short: promise more than is sent, then close
                        self.send_response(status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(payload) + 500))
                        self.end_headers()
                        self.wfile.write(payload)
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    data = json.dumps(payload).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(content: str, finish: str = "stop") -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "qwen-coder",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }


def error(status: int, message: str) -> tuple:
    kind = {
        400: "BadRequestError",
        401: "AuthenticationError",
        403: "PermissionDeniedError",
        404: "NotFoundError",
    }
    return (
        status,
        {"error": {"message": message, "type": kind.get(status, "Error"), "code": status}},
        0,
        None,
    )


OK = (200, completion(f"Here it is:\n```go\n{GO}\n```"), 0, None)


@pytest.fixture
def serve():
    servers = []

    def start(script):
        server = _ScriptedEndpoint(script)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


def _config(server_url: str, **overrides) -> TranslateConfig:
    fields = {
        "translator": "openai",
        "model": "qwen-coder",
        "openai_base_url": server_url,
        "openai_retries": 2,
        "openai_timeout_s": 5.0,
        "max_tokens": 256,
        "temperature": 0.2,
        **overrides,
    }
    return TranslateConfig(**fields)


def test_translates_with_the_prompt_sampling_seed_and_key(serve, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = serve(lambda i, body: OK)
    t = OpenAITranslator(_config(server.base_url))
    first, second = t.translate(
        [TranslationRequest(PAIR, "go", attempt=0), TranslationRequest(PAIR, "go", attempt=1)]
    )
    assert isinstance(first, Translation) and first.code == GO + "\n" and second.attempt == 1
    assert first.translator == "openai:qwen-coder" and first.prompt_version == "v1"
    assert json.loads(first.sampling)["temperature"] == 0.2
    body = server.bodies[0]
    assert (
        body["model"] == "qwen-coder" and body["max_tokens"] == 256 and body["temperature"] == 0.2
    )
    assert body["messages"][1]["content"].startswith(
        "Translate the following Python function into Go."
    )
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert len({b["seed"] for b in server.bodies}) == 2  # one seed per sample
    stats = t.stats()
    assert (stats["requests"], stats["tokens_in"], stats["tokens_out"]) == (2, 240, 60)
    t.close()


def test_retry_after_is_honoured(serve):
    server = serve(
        lambda i, body: (
            (429, {"error": {"message": "slow down"}}, 0, {"Retry-After": "1"}) if i == 0 else OK
        )
    )
    (result,) = OpenAITranslator(_config(server.base_url)).translate(
        [TranslationRequest(PAIR, "go")]
    )
    assert isinstance(result, Translation)
    assert len(server.bodies) == 2 and server.times[1] - server.times[0] >= 0.95


def test_5xx_is_retried_then_given_up_as_transient(serve):
    server = serve(lambda i, body: (503, {"error": {"message": "overloaded"}}, 0, None))
    (result,) = OpenAITranslator(_config(server.base_url, openai_retries=1)).translate(
        [TranslationRequest(PAIR, "go")]
    )
    assert (
        isinstance(result, TranslationFailure)
        and result.reason == Reason.REQUEST_FAILED
        and result.transient
    )
    assert "503" in result.detail and "overloaded" in result.detail
    assert len(server.bodies) == 2


def test_a_body_cut_short_is_transient_and_retried(serve):
    cut = (200, b'{"id": "x", "choices": [{"message": {"content": "```go', 0, None)
    server = serve(lambda i, body: cut if i == 0 else OK)
    (result,) = OpenAITranslator(_config(server.base_url)).translate(
        [TranslationRequest(PAIR, "go")]
    )
    assert isinstance(result, Translation) and len(server.bodies) == 2
    always_cut = serve(lambda i, body: cut)
    (failed,) = OpenAITranslator(_config(always_cut.base_url, openai_retries=1)).translate(
        [TranslationRequest(PAIR, "go")]
    )
    assert failed.reason == Reason.REQUEST_FAILED and failed.transient


def test_a_timeout_is_retried_then_given_up_as_transient(serve):
    server = serve(lambda i, body: (200, completion(f"```go\n{GO}\n```"), 3.0, None))
    (result,) = OpenAITranslator(
        _config(server.base_url, openai_timeout_s=0.3, openai_retries=1)
    ).translate([TranslationRequest(PAIR, "go")])
    assert (
        result.reason == Reason.REQUEST_FAILED and result.transient and "timed out" in result.detail
    )
    assert len(server.bodies) == 2


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (401, "Incorrect API key provided", "refused the API key from $OPENAI_API_KEY (HTTP 401"),
        (403, "Project does not have access", "denied access (HTTP 403"),
        (404, "The model `qwen-coder` does not exist.", "not found (HTTP 404"),
        (
            400,
            "Server is pinned to 'other-model'; requested 'qwen-coder'.",
            "does not serve this model (HTTP 400",
        ),
    ],
)
def test_configuration_errors_stop_without_retrying(serve, status, message, expected):
    server = serve(lambda i, body: error(status, message))
    with pytest.raises(
        TranslatorConfigError, match=expected.replace("(", r"\(").replace("$", r"\$")
    ) as info:
        OpenAITranslator(_config(server.base_url)).translate([TranslationRequest(PAIR, "go")])
    assert "\n" not in str(info.value) and len(server.bodies) == 1
    with pytest.raises(TranslatorConfigError):
        preflight(_config(server.base_url))


def test_request_errors_are_permanent_rejections(serve):
    replies = {
        0: error(
            400,
            "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens.",
        ),
        1: error(422, "top_p must be in (0, 1]"),
    }
    server = serve(lambda i, body: replies[i])
    t = OpenAITranslator(_config(server.base_url, openai_concurrency=1))
    too_long, bad = t.translate(
        [TranslationRequest(PAIR, "go", 0), TranslationRequest(PAIR, "go", 1)]
    )
    assert (
        too_long.reason == Reason.PROMPT_TOO_LONG
        and not too_long.transient
        and "2048" in too_long.detail
    )
    assert bad.reason == Reason.TRANSLATOR_ERROR and not bad.transient and "422" in bad.detail
    assert len(server.bodies) == 2  # not retried


def test_truncated_and_empty_replies_are_rejected_with_the_reply(serve):
    replies = {0: completion("```go\nfunc Add(a int", finish="length"), 1: completion("")}
    server = serve(lambda i, body: (200, replies[i], 0, None))
    r1, r2 = OpenAITranslator(_config(server.base_url, openai_concurrency=1)).translate(
        [TranslationRequest(PAIR, "go", 0), TranslationRequest(PAIR, "go", 1)]
    )
    assert (
        r1.reason == Reason.TRUNCATED
        and r1.raw_reply.startswith("```go")
        and r1.to_rejected().raw_reply == r1.raw_reply
    )
    assert r2.reason == Reason.EMPTY_REPLY


def test_concurrency_is_per_worker_process(serve):
    live, peak = [0], [0]
    lock = threading.Lock()

    def script(i, body):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return OK

    server = serve(script)
    config = _config(server.base_url, openai_concurrency=3)
    translators = [
        OpenAITranslator(config),
        OpenAITranslator(config),
    ]  # two DoFn instances, one process
    results: list = []
    threads = [
        threading.Thread(
            target=lambda t=t: results.extend(
                t.translate([TranslationRequest(PAIR, "go", a) for a in range(8)])
            )
        )
        for t in translators
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(results) == 16 and all(isinstance(r, Translation) for r in results)
    assert 1 < peak[0] <= 3


def test_unreachable_endpoint():
    url = f"http://127.0.0.1:{free_port()}/v1"
    (result,) = OpenAITranslator(_config(url, openai_retries=1)).translate(
        [TranslationRequest(PAIR, "go")]
    )
    assert (
        result.reason == Reason.REQUEST_FAILED and result.transient and "Connect" in result.detail
    )
    with pytest.raises(TranslatorConfigError, match="cannot reach"):
        preflight(_config(url))


def test_a_401_mid_run_caches_nothing_and_the_fixed_rerun_generates_everything(serve, tmp_path):
    """The run stops on the configuration error; after the fix, nothing stale is served from the cache."""
    from pipeline.run import translator_config_error

    pairs = [
        SourcePair.create(
            repository_name="o/r",
            func_path_in_repository="m.py",
            func_name=f"add_{i}",
            language="python",
            code=f"def add_{i}(a: int) -> int:\n    return a + {i}\n",
            docstring="Add.",
        )
        for i in range(3)
    ]
    key_ok = threading.Event()
    server = serve(
        lambda i, body: OK if key_ok.is_set() else error(401, "Incorrect API key provided")
    )
    config = _config(
        server.base_url, target_languages=("go", "rust"), cache_dir=str(tmp_path / "cache")
    )
    with pytest.raises(Exception) as info:
        run_translate(pairs, config, tmp_path / "run1")
    assert "refused the API key" in translator_config_error(info.value)
    rows = sqlite3.connect(tmp_path / "cache" / "translations.sqlite").execute(
        "SELECT COUNT(*) FROM translations"
    )
    assert rows.fetchone()[0] == 0
    key_ok.set()
    out = run_translate(pairs, config, tmp_path / "run2")
    expected = sum(len(requests_for(p, config)) for p in pairs)
    counters = out["metrics"]["counters"]
    assert (
        counters["translate/cache_misses"] == expected
        and counters.get("translate/cache_hits", 0) == 0
    )
    assert len(out["candidates"]) + len(out["rejected"]) == expected


@pytest.mark.slow
def test_transformers_serve_with_smollm2_every_row_accounted(tmp_path):
    """A real model behind a real OpenAI-compatible server (``transformers serve``)."""
    model = smollm2_path()
    pairs = [
        SourcePair.create(
            repository_name="o/r",
            func_path_in_repository="m.py",
            func_name=f"scale_{i}",
            language="python",
            code=f"def scale_{i}(x: int) -> int:\n    return x * {i}\n",
            docstring=f"Scale by {i}.",
        )
        for i in range(2)
    ]
    with TransformersServe(model, tmp_path / "serve.log") as server:
        config = TranslateConfig(
            translator="openai",
            model=model,
            openai_base_url=server.base_url,
            target_languages=("go", "rust"),
            num_samples=2,
            temperature=0.7,
            max_tokens=40,
            openai_concurrency=2,
            cache_dir=str(tmp_path / "cache"),
        )
        preflight(config)
        with pytest.raises(TranslatorConfigError, match="does not serve this model"):
            preflight(
                TranslateConfig(
                    translator="openai", model="no-such-model", openai_base_url=server.base_url
                )
            )
        out = run_translate(pairs, config, tmp_path / "run")
    expected = sum(len(requests_for(p, config)) for p in pairs)
    assert len(out["candidates"]) + len(out["rejected"]) == expected == 8
    for row in out["rejected"]:
        assert (
            row["reason"] in {Reason.TRUNCATED, Reason.EMPTY_REPLY} and row["raw_reply"] is not None
        ), row
    for row in out["candidates"]:
        assert row["code"].strip() and row["raw_reply"]
    counters = out["metrics"]["counters"]
    assert counters["translate/openai_requests"] == expected
    assert (
        counters["translate/openai_tokens_in"] > expected * 100
        and 0 < counters["translate/openai_tokens_out"] <= expected * 40
    )


def test_the_command_line_stops_with_one_line_on_a_rejected_key(serve, tmp_path, capsys):
    from pipeline.run import main

    server = serve(
        lambda i, body: (401, {"error": "Incorrect API key provided: sk-wrong"}, 0, None)
    )  # vLLM's shape
    argv = [
        "--translator=openai",
        f"--openai_base_url={server.base_url}",
        "--model=qwen-coder",
        "--sandbox=none",
        "--target_languages=go",
        f"--output={tmp_path / 'out'}",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {server.base_url} (model qwen-coder) refused the API key from $OPENAI_API_KEY "
        "(HTTP 401: Incorrect API key provided: sk-wrong)"
    ]
    assert not (tmp_path / "out" / "cache").exists()  # the run never started
