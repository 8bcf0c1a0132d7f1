"""STAND-IN for vLLM's OpenAI-compatible server module, for tests on a machine without a GPU.

vLLM needs a GPU and cannot run here. Beam's ``VLLMChatModelHandler`` starts the server as
``python -m vllm.entrypoints.openai.api_server --model M --port P <flags>``; with this
directory (``tests/standins``) on ``PYTHONPATH`` that command runs this module instead, so
the pipeline's vLLM path is driven through Beam's real handler, a real subprocess, a real
HTTP server on 127.0.0.1 and the real ``openai`` client. It is not vLLM, and says so in its
log and in ``/v1/models`` (``owned_by: vllm-standin``).

What it mirrors of vLLM, strictly (what vLLM rejects, it rejects the same way):

* **Arguments**: vLLM's ``FlexibleArgumentParser`` rules (``--a_b`` == ``--a-b``, ``--k=v``,
  an optional positional model tag, ``--config FILE.yaml``) over a subset of vLLM's flags
  with their real types: booleans are ``--flag/--no-flag`` pairs that take no value, JSON
  flags parse JSON, ``--max-model-len`` takes ``4096``/``32k``/``32K``/``auto``. An unknown
  flag, a stray value (``--enforce-eager ''``) or a value of the wrong type exits with status
  2 and argparse's message, as vLLM does. Flags vLLM has but this subset lacks are refused
  too (stricter than vLLM, never looser). Startup logs ``non-default args: {...}`` (and
  appends them as a JSON line to ``$VLLM_STANDIN_RECORD`` when a test sets it).
* **Startup checks**: ``--max-model-len`` above what the model's config allows is refused
  (vLLM's message); the model must load from ``--model`` (a local transformers folder here).
* **HTTP**: ``GET /health``, ``GET /v1/models``, ``POST /v1/chat/completions``.
  ``--api-key``: 401 ``{"error": "Unauthorized"}`` without the key. Unknown model: 404.
  Request checks with vLLM's messages, as HTTP 400: prompt + ``max_tokens`` above
  ``max-model-len``, ``n > 1`` with greedy sampling, out-of-range ``temperature``/``top_p``/
  ``max_tokens``/``n``, malformed messages. Replies are OpenAI chat completions (``choices``
  with ``index``, ``message``, ``finish_reason`` ``stop``/``length``; ``usage``).
* **Generation**: real, with transformers on the CPU: the model's chat template (or
  ``--chat-template``), greedy at temperature 0, else sampling from one generator seeded with
  the request's ``seed`` for all ``n`` samples. One request at a time.
* ``--enable-log-requests`` logs each request's sampling parameters (``n``, ``seed``, ...),
  as vLLM's request logger does.
* Like vLLM, it does **not** exit when its parent dies: whoever starts it must stop it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

VLLM_DEFAULT_MODEL = "Qwen/Qwen3-0.6B"


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    """One line on stdout in vLLM's log format (Beam forwards the server's stdout to its log)."""
    stamp = time.strftime("%m-%d %H:%M:%S")
    try:
        with _LOG_LOCK:  # handler threads log concurrently: keep lines whole
            print(f"INFO {stamp} [api_server.py] (vLLM STAND-IN) {message}", flush=True)
    except (BrokenPipeError, OSError):
        pass  # the reader of our output is gone (as with vLLM, that does not stop the server)


# --- arguments ----------------------------------------------------------------------------


def human_readable_int_or_auto(value: str) -> int:
    """vLLM's ``--max-model-len`` type: 4096, 32k (32,000), 32K (32,768), auto/-1 (-1)."""
    text = value.strip()
    if text == "-1" or text.lower() == "auto":
        return -1
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", text)
    if match:
        number, suffix = match.groups()
        if suffix.islower():
            return int(float(number) * {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}[suffix])
        try:
            return int(number) * {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[suffix]
        except ValueError as exc:
            raise argparse.ArgumentTypeError(
                f"Decimals are not allowed with binary suffixes like {suffix}"
            ) from exc
    return int(text)


class FlexibleArgumentParser(argparse.ArgumentParser):
    """vLLM's parser rules: ``--config FILE``, underscores in flag names read as dashes."""

    def parse_args(self, args=None, namespace=None):  # noqa: D102
        args = list(sys.argv[1:] if args is None else args)
        if "--config" in args:
            i = args.index("--config")
            if i + 1 >= len(args):
                self.error("argument --config: expected one argument")
            import yaml

            with open(args[i + 1]) as f:
                config = yaml.safe_load(f) or {}
            from_file: list[str] = []
            for key, value in config.items():
                if value is True:
                    from_file.append(f"--{key}")
                elif value is False:
                    from_file.append(f"--no-{key}")
                else:
                    from_file += [
                        f"--{key}",
                        json.dumps(value) if isinstance(value, (dict, list)) else str(value),
                    ]
            args = args[:i] + args[i + 2 :] + from_file  # vLLM: the command line wins
        processed = []
        for arg in args:
            if arg.startswith("--"):
                key, sep, value = arg.partition("=")
                head, dot, rest = key.partition(".")
                processed.append(head.replace("_", "-") + dot + rest + sep + value)
            else:
                processed.append(arg)
        return super().parse_args(processed, namespace)


def make_arg_parser() -> FlexibleArgumentParser:
    """The subset of vLLM's server flags this stand-in knows, with vLLM's types."""
    p = FlexibleArgumentParser(
        prog="-m vllm.entrypoints.openai.api_server", description="vLLM STAND-IN"
    )
    flag = argparse.BooleanOptionalAction
    p.add_argument(
        "model_tag",
        type=str,
        nargs="?",
        help="The model tag to serve (optional if specified in config)",
    )
    p.add_argument("--config", help="Read CLI options from a config file (YAML)")
    p.add_argument("--headless", action="store_true", default=False)
    p.add_argument("--api-server-count", "-asc", type=int, default=None)
    # Frontend
    p.add_argument("--host", type=str, default=None)
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--uds", type=str, default=None)
    p.add_argument(
        "--uvicorn-log-level",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        default="info",
    )
    p.add_argument("--disable-uvicorn-access-log", action=flag, default=False)
    p.add_argument("--allow-credentials", action=flag, default=False)
    p.add_argument("--allowed-origins", type=json.loads, default=["*"])
    p.add_argument("--api-key", type=str, nargs="+", default=None)
    p.add_argument("--chat-template", type=str, default=None)
    p.add_argument(
        "--chat-template-content-format", choices=["auto", "string", "openai"], default="auto"
    )
    p.add_argument("--response-role", type=str, default="assistant")
    p.add_argument("--root-path", type=str, default=None)
    p.add_argument("--middleware", type=str, action="append", default=[])
    p.add_argument("--enable-request-id-headers", action=flag, default=False)
    p.add_argument("--disable-fastapi-docs", action=flag, default=False)
    p.add_argument("--enable-auto-tool-choice", action=flag, default=False)
    p.add_argument("--tool-call-parser", type=str, default=None)
    p.add_argument("--max-log-len", type=int, default=None)
    p.add_argument("--enable-log-outputs", action=flag, default=False)
    p.add_argument("--enable-prompt-tokens-details", action=flag, default=False)
    p.add_argument("--default-chat-template-kwargs", type=json.loads, default=None)
    # Engine
    p.add_argument("--model", type=str, default=VLLM_DEFAULT_MODEL)
    p.add_argument("--served-model-name", type=str, nargs="+", default=None)
    p.add_argument("--tokenizer", type=str, default=None)
    p.add_argument(
        "--tokenizer-mode", choices=["auto", "slow", "mistral", "custom"], default="auto"
    )
    p.add_argument("--revision", type=str, default=None)
    p.add_argument("--tokenizer-revision", type=str, default=None)
    p.add_argument("--download-dir", type=str, default=None)
    p.add_argument("--trust-remote-code", action=flag, default=False)
    p.add_argument(
        "--dtype",
        choices=["auto", "half", "float16", "bfloat16", "float", "float32"],
        default="auto",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-model-len", type=human_readable_int_or_auto, default=None)
    p.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    p.add_argument("--max-num-seqs", type=int, default=None)
    p.add_argument("--max-num-batched-tokens", type=human_readable_int_or_auto, default=None)
    p.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    p.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    p.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    p.add_argument("--enable-prefix-caching", action=flag, default=None)
    p.add_argument("--enable-chunked-prefill", action=flag, default=None)
    p.add_argument("--enforce-eager", action=flag, default=False)
    p.add_argument("--quantization", "-q", type=str, default=None)
    p.add_argument(
        "--kv-cache-dtype",
        choices=["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16"],
        default="auto",
    )
    p.add_argument("--block-size", type=int, default=None)
    p.add_argument("--swap-space", type=float, default=4)
    p.add_argument("--max-logprobs", type=int, default=20)
    p.add_argument("--generation-config", type=str, default="auto")
    p.add_argument("--override-generation-config", type=json.loads, default={})
    p.add_argument("--hf-overrides", type=json.loads, default={})
    p.add_argument("--compilation-config", "-cc", type=json.loads, default=None)
    p.add_argument("--limit-mm-per-prompt", type=json.loads, default={})
    p.add_argument("--speculative-config", type=json.loads, default=None)
    p.add_argument("--disable-log-stats", action=flag, default=False)
    p.add_argument("--enable-log-requests", action=flag, default=False)
    p.add_argument("--reasoning-parser", type=str, default="")
    return p


# --- the model ----------------------------------------------------------------------------


class Engine:
    """The model and its limits; generates one request at a time."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(
            args.tokenizer or args.model, revision=args.tokenizer_revision
        )
        self.model = AutoModelForCausalLM.from_pretrained(
            args.model, revision=args.revision, dtype=torch.float32
        ).eval()
        derived = int(getattr(self.model.config, "max_position_embeddings", 0) or 0) or 2048
        requested = args.max_model_len
        if requested is not None and requested != -1 and requested > derived:
            raise ValueError(
                f"User-specified max_model_len ({requested}) is greater than the derived max_model_len "
                f"(max_position_embeddings={derived} or model_max_length=None in model's config.json). "
                "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1."
            )
        self.max_model_len = derived if requested in (None, -1) else requested
        self.template = None
        if args.chat_template:
            self.template = (
                open(args.chat_template).read()
                if os.path.exists(args.chat_template)
                else args.chat_template
            )
        self.names = args.served_model_name or [args.model]
        self.root = args.model
        self.lock = threading.Lock()
        eos = self.model.generation_config.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}

    def prompt_ids(self, messages: list[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, chat_template=self.template
        )
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def generate(
        self,
        ids: list[int],
        n: int,
        temperature: float,
        top_p: float,
        max_tokens: int,
        seed: int | None,
    ):
        """[(text, finish_reason, completion tokens)] for ``n`` samples."""
        torch = self.torch
        inputs = torch.tensor([ids])
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "num_return_sequences": n,
            "pad_token_id": min(self.eos),
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False)
        with self.lock, torch.inference_mode():
            torch.manual_seed(seed if seed is not None else int.from_bytes(os.urandom(4), "big"))
            out = self.model.generate(inputs, attention_mask=torch.ones_like(inputs), **kwargs)
        results = []
        for row in out[:, len(ids) :].tolist():
            stop = next((k for k, tok in enumerate(row) if tok in self.eos), None)
            tokens = row if stop is None else row[:stop]
            finish = "stop" if stop is not None else "length"
            count = len(tokens) + (1 if stop is not None else 0)
            results.append((self.tokenizer.decode(tokens, skip_special_tokens=True), finish, count))
        return results


class RequestError(Exception):
    """A request vLLM refuses: (HTTP status, error type, message)."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _number(body: dict, name: str, default: Any, kind: type) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise RequestError(400, "BadRequestError", f"{name} must be an integer, got {value!r}.")
    if kind is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise RequestError(400, "BadRequestError", f"{name} must be a number, got {value!r}.")
    return value


def chat_completion(engine: Engine, body: dict, log_requests: bool) -> dict:
    """The OpenAI chat completion for one request body, or ``RequestError``."""
    if body.get("model") not in engine.names:
        raise RequestError(404, "NotFoundError", f"The model `{body.get('model')}` does not exist.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "BadRequestError", "messages must be a non-empty list")
    plain = []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise RequestError(400, "BadRequestError", f"invalid message: {m!r}")
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if not isinstance(content, str):
            raise RequestError(400, "BadRequestError", f"invalid message content: {content!r}")
        plain.append({"role": m["role"], "content": content})
    n = _number(body, "n", 1, int)
    temperature = float(_number(body, "temperature", 1.0, float))
    top_p = float(_number(body, "top_p", 1.0, float))
    seed = _number(body, "seed", None, int)
    ids = engine.prompt_ids(plain)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", None, int)
    if max_tokens is None:
        max_tokens = engine.max_model_len - len(ids)
    if n < 1:
        raise RequestError(400, "BadRequestError", f"n must be at least 1, got {n}.")
    if temperature < 0:
        raise RequestError(
            400, "BadRequestError", f"temperature must be non-negative, got {temperature}."
        )
    if not 0 < top_p <= 1:
        raise RequestError(400, "BadRequestError", f"top_p must be in (0, 1], got {top_p}.")
    if max_tokens < 1:
        raise RequestError(
            400, "BadRequestError", f"max_tokens must be at least 1, got {max_tokens}."
        )
    if temperature < 1e-5 and n > 1:
        raise RequestError(
            400, "BadRequestError", f"n must be 1 when using greedy sampling, got {n}."
        )
    if len(ids) + max_tokens > engine.max_model_len:
        raise RequestError(
            400,
            "BadRequestError",
            f"This model's maximum context length is {engine.max_model_len} tokens. However, you requested "
            f"{len(ids) + max_tokens} tokens ({len(ids)} in the messages, {max_tokens} in the completion). "
            "Please reduce the length of the messages or completion.",
        )
    request_id = f"chatcmpl-{uuid.uuid4().hex}"
    if log_requests:
        log(
            f"Received request {request_id}: params: SamplingParams(n={n}, temperature={temperature}, "
            f"top_p={top_p}, seed={seed}, max_tokens={max_tokens}), prompt_token_ids: {len(ids)} tokens"
        )
    samples = engine.generate(ids, n, temperature, top_p, max_tokens, seed)
    choices = [
        {
            "index": i,
            "message": {
                "role": "assistant",
                "content": text,
                "reasoning_content": None,
                "tool_calls": [],
            },
            "logprobs": None,
            "finish_reason": finish,
            "stop_reason": None,
        }
        for i, (text, finish, _) in enumerate(samples)
    ]
    completion_tokens = sum(count for _, _, count in samples)
    return {
        "id": request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": choices,
        "usage": {
            "prompt_tokens": len(ids),
            "total_tokens": len(ids) + completion_tokens,
            "completion_tokens": completion_tokens,
            "prompt_tokens_details": None,
        },
        "prompt_logprobs": None,
    }


def make_handler(engine: Engine, args: argparse.Namespace):
    """The HTTP request handler class bound to ``engine``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *values: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
            if not args.disable_uvicorn_access_log:
                log(
                    f'{self.client_address[0]}:{self.client_address[1]} - "{self.requestline}" {values[1] if len(values) > 1 else ""}'
                )

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if not args.api_key or not self.path.startswith("/v1"):
                return True
            header = self.headers.get("Authorization", "")
            if header in {f"Bearer {key}" for key in args.api_key}:
                return True
            self._send(401, {"error": "Unauthorized"})
            return False

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/health":
                self._send(200, {})
            elif self.path == "/v1/models":
                if self._authorised():
                    created = int(time.time())
                    data = [
                        {
                            "id": name,
                            "object": "model",
                            "created": created,
                            "owned_by": "vllm-standin",
                            "root": engine.root,
                            "parent": None,
                            "max_model_len": engine.max_model_len,
                        }
                        for name in engine.names
                    ]
                    self._send(200, {"object": "list", "data": data})
            else:
                self._send(404, {"detail": "Not Found"})

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/v1/chat/completions":
                self._send(404, {"detail": "Not Found"})
                return
            if not self._authorised():
                return
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise RequestError(
                        400, "BadRequestError", "the request body must be a JSON object"
                    )
                self._send(200, chat_completion(engine, body, args.enable_log_requests))
            except json.JSONDecodeError as exc:
                self._send(
                    400,
                    {
                        "error": {
                            "message": f"invalid JSON: {exc}",
                            "type": "BadRequestError",
                            "param": None,
                            "code": 400,
                        }
                    },
                )
            except RequestError as exc:
                self._send(
                    exc.status,
                    {
                        "error": {
                            "message": exc.message,
                            "type": exc.kind,
                            "param": None,
                            "code": exc.status,
                        }
                    },
                )

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = make_arg_parser()
    args = parser.parse_args(argv)
    defaults = vars(parser.parse_args([]))
    changed = {k: v for k, v in vars(args).items() if v != defaults.get(k)}
    log(f"non-default args: {changed}")
    record = os.environ.get("VLLM_STANDIN_RECORD")  # tests: where the arguments can be read back
    if record:
        with open(record, "a") as f:
            f.write(
                json.dumps(
                    {
                        k: v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
                        for k, v in changed.items()
                    }
                )
                + "\n"
            )
    if args.enable_log_outputs and not args.enable_log_requests:
        raise TypeError("Error: --enable-log-outputs requires --enable-log-requests")
    engine = Engine(args)
    server = ThreadingHTTPServer((args.host or "127.0.0.1", args.port), make_handler(engine, args))
    server.daemon_threads = True

    def stop(signum: int, frame: Any) -> None:
        log(f"received signal {signum}: shutting down")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(
        f"serving {engine.names} (max_model_len={engine.max_model_len}) on http://{server.server_address[0]}:{args.port}"
    )
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
