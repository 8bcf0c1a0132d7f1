"""STAND-IN chat server for the repair loop: an OpenAI-compatible ``/v1/chat/completions`` on
127.0.0.1 that is not a model.

It answers a translation request from a policy, so a test knows what the "model" will do:
the first request of a conversation (two messages: system, user) gets the policy's *first*
answer, and a continued conversation (the model's reply and a feedback turn appended) gets
its *repair* answer. The pipeline talks to it through its real ``openai`` backend and the
official ``openai`` client, over HTTP; every request body is kept (``requests``) so a test
can assert on exactly what the model was shown.

Policies:

* ``TablePolicy``: per (function name, target language) a wrong and a right translation; the
  first answer is the wrong one, a repair answer the right one (``improve=False``: the wrong
  one again, a model that never improves).
* ``Py2ManyPolicy``: for the bundled sample, where nobody wrote the translations by hand:
  py2many's translation (C++, Go, Rust) with one small mutation (``<`` for ``<=``, ``- 2`` for
  ``- 1``, ...) as the first answer, py2many's own output as the repair answer.

Command line (for a pipeline run against it)::

    python tests/standins/chat_server.py --port 18600 --policy=py2many
    python -m pipeline.run --translator=openai --openai_base_url=http://127.0.0.1:18600/v1 \\
        --model=stand-in --target_languages=go --repair_rounds=1 --output=out/standin
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The display names the prompts use (``pipeline/translate/prompts.py``), back to our names.
_TARGETS = {
    "C++": "cpp",
    "Go": "go",
    "Rust": "rust",
    "Java": "java",
    "JavaScript": "javascript",
    "C": "c",
    "PHP": "php",
    "Ruby": "ruby",
    "Python": "python",
}
_INTO = re.compile(
    r"^Translate the following \w+ function into (?P<target>[\w+#]+)\.", re.MULTILINE
)
_SOURCE = re.compile(r"```python\n(?P<code>.*?)\n```", re.DOTALL)
_DEF = re.compile(r"^\s*def\s+(?P<name>\w+)\s*\(", re.MULTILINE)


def read_request(messages: list[dict[str, str]]) -> tuple[str | None, str | None, str | None, int]:
    """(function name, target language, source code, repair round) of a translation chat;
    the round is the number of the model's own replies already in the conversation."""
    first = next((m["content"] for m in messages if m.get("role") == "user"), "")
    into, source = _INTO.search(first), _SOURCE.search(first)
    code = source.group("code") if source else None
    name = _DEF.search(code).group("name") if code and _DEF.search(code) else None
    target = _TARGETS.get(into.group("target")) if into else None
    return name, target, code, sum(m.get("role") == "assistant" for m in messages)


def fenced(code: str, tag: str) -> str:
    return f"Here is the translation:\n\n```{tag}\n{code}\n```\n"


class TablePolicy:
    """Answers from ``{(function name, target): (wrong code, right code)}`` (see the module docstring)."""

    def __init__(self, table: dict[tuple[str, str], tuple[str, str]], improve: bool = True) -> None:
        self.table = table
        self.improve = improve

    def __call__(self, messages: list[dict[str, str]]) -> str:
        name, target, _, repair_round = read_request(messages)
        if (name, target) not in self.table:
            return "OK"
        wrong, right = self.table[(name, target)]
        return fenced(right if repair_round and self.improve else wrong, target)


#: Small edits that keep code compiling and change what it computes (the first that applies).
MUTATIONS: tuple[tuple[str, str], ...] = (
    (" <= ", " < "),
    (" >= ", " > "),
    (" < ", " <= "),
    (" > ", " >= "),
    (" - 1", " - 2"),
    (" + 1", " + 2"),
    (" == 0", " == 1"),
    (" + ", " - "),
    (" * ", " + "),
)


def mutate(code: str) -> str:
    """``code`` with its first applicable ``MUTATIONS`` edit (in the body, not the imports)."""
    lines = code.split("\n")
    for old, new in MUTATIONS:
        for i, line in enumerate(lines):
            if old in line and not line.lstrip().startswith(("#include", "import", "use ", "//")):
                lines[i] = line.replace(old, new, 1)
                return "\n".join(lines)
    return code


class Py2ManyPolicy:
    """py2many's translation, mutated in the first answer (see the module docstring)."""

    def __init__(self, improve: bool = True) -> None:
        from pipeline.translate.py2many import Py2ManyTranslator

        self.improve = improve
        self._py2many = Py2ManyTranslator()
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str], str | None] = {}

    def _translate(self, code: str, name: str, target: str) -> str | None:
        from pipeline.translate import TranslationRequest
        from schemas import SourcePair, Translation

        key = (code, target)
        with self._lock:
            if key not in self._memo:
                pair = SourcePair.create(
                    repository_name="stand-in",
                    func_path_in_repository="f.py",
                    func_name=name,
                    language="python",
                    code=code,
                    docstring="",
                )
                result = self._py2many.translate([TranslationRequest(pair, target)])[0]
                self._memo[key] = result.code if isinstance(result, Translation) else None
            return self._memo[key]

    def __call__(self, messages: list[dict[str, str]]) -> str:
        name, target, code, repair_round = read_request(messages)
        if not (name and target and code) or target not in ("cpp", "go", "rust"):
            return "OK"
        right = self._translate(code, name, target)
        if right is None:
            return "I cannot translate this function."
        return fenced(right if repair_round and self.improve else mutate(right), target)


class StandInChatServer:
    """The stand-in server on 127.0.0.1 (context manager); ``requests`` holds every body it got.

    Args:
        policy: chat messages -> the reply's text.
        port: 0 picks a free port.
        on_request: called with each body before it is answered (a test can stop a run there).
    """

    def __init__(
        self,
        policy: Callable[[list[dict[str, str]]], str],
        port: int = 0,
        on_request: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.policy = policy
        self.on_request = on_request
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client is gone (a test killed it)
                    pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [
                                {"id": "stand-in", "object": "model", "owned_by": "chat-standin"}
                            ],
                        },
                    )
                else:
                    self._send(200 if self.path == "/health" else 404, {})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append(body)
                if outer.on_request is not None:
                    outer.on_request(body)
                messages = body.get("messages") or []
                text = outer.policy(messages)
                prompt = sum(len(m.get("content", "").split()) for m in messages)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-standin-{len(outer.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "stand-in"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": text},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": len(text.split()),
                            "total_tokens": prompt + len(text.split()),
                        },
                    },
                )

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> StandInChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def conversations(self) -> list[list[dict[str, str]]]:
        """The chats of the translation requests it got (the launch's 1-token check left out)."""
        with self._lock:
            return [
                b["messages"] for b in self.requests if read_request(b.get("messages") or [])[0]
            ]

    def feedback_turns(self) -> list[str]:
        """Every feedback turn it was shown (the last user message of a continued conversation)."""
        return [chat[-1]["content"] for chat in self.conversations() if read_request(chat)[3]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="STAND-IN chat server (not a model) for the repair loop"
    )
    parser.add_argument("--port", type=int, default=18600)
    parser.add_argument("--policy", choices=("py2many",), default="py2many")
    parser.add_argument(
        "--never_improve", action="store_true", help="repair answers repeat the wrong first answer"
    )
    parser.add_argument(
        "--log", default=None, help="append every request body to this JSON-lines file"
    )
    args = parser.parse_args(argv)
    log = open(args.log, "a") if args.log else None  # noqa: SIM115 - open for the server's life

    def record(body: dict) -> None:
        if log is not None:
            log.write(json.dumps(body) + "\n")
            log.flush()

    server = StandInChatServer(
        Py2ManyPolicy(improve=not args.never_improve), args.port, on_request=record
    )
    print(f"chat STAND-IN (not a model) on {server.base_url}", flush=True)
    with server:
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
