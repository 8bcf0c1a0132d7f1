"""The OpenAI-compatible client against a local stand-in server.

``_StandInServer`` is a test double for a remote endpoint (vLLM serve, a hosted API), which
cannot run here: a stdlib ``http.server`` speaking ``POST /v1/chat/completions``. Each test
scripts its replies (status codes, delays, finish reasons) and reads back what it received.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.translate import TranslateConfig, TranslationFailure, TranslationRequest
from pipeline.translate.openai import OpenAITranslator
from schemas import SourcePair, Translation

PAIR = SourcePair.create(repository_name="o/r", func_path_in_repository="a.py", func_name="add",
                         language="python", code="def add(a: int, b: int) -> int:\n    return a + b\n",
                         docstring="Add two ints.")
GO = "func Add(a int, b int) int {\n\treturn a + b\n}"


class _StandInServer:
    """Stand-in for an OpenAI-compatible chat-completions endpoint (a test double)."""

    def __init__(self, script):
        self.script = script  # callable(call_index, body) -> (status, json_or_None, delay_s)
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    index = len(outer.bodies)
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                status, payload, delay = outer.script(index, body)
                time.sleep(delay)
                data = json.dumps(payload or {"error": {"message": "boom"}}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(content: str, finish: str = "stop") -> dict:
    return {"id": "x", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}}


@pytest.fixture
def serve():
    servers = []

    def start(script):
        server = _StandInServer(script)
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.close()


def _translator(server, **overrides) -> OpenAITranslator:
    fields = {"translator": "openai", "model": "qwen-coder", "openai_base_url": server.base_url,
              "openai_retries": 2, "openai_backoff_s": 0.01, "openai_timeout_s": 5.0, "max_tokens": 256,
              "temperature": 0.2, **overrides}
    return OpenAITranslator(TranslateConfig(**fields))


def test_translates_and_sends_the_prompt_and_sampling(serve, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    server = serve(lambda i, body: (200, completion(f"Here it is:\n```go\n{GO}\n```"), 0))
    t = _translator(server)
    (result,) = t.translate([TranslationRequest(PAIR, "go", attempt=1)])
    assert isinstance(result, Translation) and result.code == GO + "\n"
    assert result.translator == "openai:qwen-coder" and result.prompt_version == "v1" and result.attempt == 1
    assert json.loads(result.sampling)["temperature"] == 0.2
    body = server.bodies[0]
    assert body["model"] == "qwen-coder" and body["max_tokens"] == 256 and body["temperature"] == 0.2
    assert body["messages"][1]["content"].startswith("Translate the following Python function into Go.")
    assert isinstance(body["seed"], int)
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert t.stats() == {"requests": 1, "tokens_in": 120, "tokens_out": 30,
                         "latency_ms": pytest.approx(t.stats()["latency_ms"]), "retries": 0, "http_errors": 0}


def test_a_500_then_success_is_retried(serve):
    server = serve(lambda i, body: (500, None, 0) if i == 0 else (200, completion(f"```go\n{GO}\n```"), 0))
    t = _translator(server)
    (result,) = t.translate([TranslationRequest(PAIR, "go")])
    assert isinstance(result, Translation)
    assert len(server.bodies) == 2 and t.stats()["retries"] == 1 and t.stats()["http_errors"] == 1


def test_a_timeout_is_retried_then_given_up_as_transient(serve):
    server = serve(lambda i, body: (200, completion(f"```go\n{GO}\n```"), 2.0))
    t = _translator(server, openai_timeout_s=0.3, openai_retries=1)
    started = time.monotonic()
    (result,) = t.translate([TranslationRequest(PAIR, "go")])
    assert isinstance(result, TranslationFailure) and result.reason == "request_failed"
    assert result.transient and "timed out" in result.detail.lower()
    assert len(server.bodies) == 2 and time.monotonic() - started < 2.0


def test_a_timeout_then_success(serve):
    server = serve(lambda i, body: (200, completion(f"```go\n{GO}\n```"), 1.0 if i == 0 else 0))
    (result,) = _translator(server, openai_timeout_s=0.3).translate([TranslationRequest(PAIR, "go")])
    assert isinstance(result, Translation)


def test_client_errors_are_not_retried(serve):
    server = serve(lambda i, body: (400, {"error": {"message": "prompt too long"}}, 0))
    (result,) = _translator(server).translate([TranslationRequest(PAIR, "go")])
    assert result.reason == "translator_error" and "400" in result.detail and "prompt too long" in result.detail
    assert len(server.bodies) == 1 and not result.transient


def test_truncated_and_empty_replies_are_rejected_with_the_reply(serve):
    replies = {0: completion("```go\nfunc Add(a int", finish="length"), 1: completion("")}
    server = serve(lambda i, body: (200, replies[i], 0))
    t = _translator(server, openai_concurrency=1)
    r1, r2 = t.translate([TranslationRequest(PAIR, "go", 0), TranslationRequest(PAIR, "go", 1)])
    assert r1.reason == "truncated" and r1.raw_reply.startswith("```go")
    assert r2.reason == "empty_reply"
    assert r1.to_rejected().raw_reply == r1.raw_reply


def test_concurrency_is_limited(serve):
    live, peak = [0], [0]
    lock = threading.Lock()

    def script(i, body):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.05)
        with lock:
            live[0] -= 1
        return 200, completion(f"```go\n{GO}\n```"), 0

    server = serve(script)
    t = _translator(server, openai_concurrency=3)
    results = t.translate([TranslationRequest(PAIR, "go", a) for a in range(12)])
    assert all(isinstance(r, Translation) for r in results) and [r.attempt for r in results] == list(range(12))
    assert 1 < peak[0] <= 3


def test_unreachable_endpoint_is_request_failed():
    config = TranslateConfig(translator="openai", model="m", openai_base_url="http://127.0.0.1:9/v1",
                             openai_retries=1, openai_backoff_s=0.0)
    (result,) = OpenAITranslator(config).translate([TranslationRequest(PAIR, "go")])
    assert result.reason == "request_failed" and result.transient
