"""The ``hf`` backend: a local transformers causal LM given by path, batched ``generate``.

For a workstation GPU or a small model on a CPU, without a server. Prompts use the model's
own chat template (``tokenizer.apply_chat_template``); a tokenizer without one gets the plain
template of ``prompts.render_plain`` and a log line saying so. Batches are left-padded.

A reply is ``truncated`` when its generation used all ``max_tokens`` new tokens without an
end-of-sequence token. Prompts that do not fit the model's context together with
``max_tokens`` are rejected as ``prompt_too_long`` instead of being cut silently.

Out-of-memory and other device errors (CUDA, cuDNN, NCCL, MPS, a host ``MemoryError``) are
the batch's size or the device's state, not the requests: the batch is split in halves and
retried, and the smaller size is kept for the rest of the run; a single request that still
fails is rejected as ``inference_error``, which is not cached, so a re-run retries it. Any
other exception from ``generate`` is the input's fault and is rejected (and cached) as
``translator_error``.

Sampling (``temperature > 0``) draws from a torch generator seeded per batch from the
requests' keys, so a re-run of the same batch reproduces its samples; the cache makes
re-runs skip finished requests anyway.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time

from pipeline.translate.base import (
    Reason,
    TranslateConfig,
    TranslationFailure,
    TranslationRequest,
    Translator,
)
from pipeline.translate.extract import build_result
from pipeline.translate.prompts import PROMPT_VERSION, render_prompt
from schemas import Translation

LOG = logging.getLogger(__name__)


_DEVICE_ERROR = re.compile(
    r"out of memory|CUDA|cuDNN|CUBLAS|cuBLAS|NCCL|HIP error|MPS backend|XPU|device-side assert|"
    r"illegal memory access|ECC error|launch failure",
)


def is_device_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory or accelerator error (transient: retry smaller)."""
    import torch

    kinds: tuple[type[BaseException], ...] = (MemoryError, torch.cuda.OutOfMemoryError)
    for name in ("OutOfMemoryError", "AcceleratorError"):  # torch >= 2.5 / >= 2.8
        kind = getattr(torch, name, None)
        if isinstance(kind, type):
            kinds += (kind,)
    if isinstance(exc, kinds):
        return True
    return isinstance(exc, RuntimeError) and _DEVICE_ERROR.search(str(exc)) is not None


def resolve_device(choice: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; anything else as given."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


class HFTranslator(Translator):
    """Translate with ``transformers.AutoModelForCausalLM`` loaded from ``config.model``."""

    prompt_version = PROMPT_VERSION

    def __init__(self, config: TranslateConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not config.model:
            raise ValueError("the hf translator needs model= a local model directory")
        self._config = config
        self.device = resolve_device(config.hf_device)
        self.name = f"hf:{config.model}"
        self._tokenizer = AutoTokenizer.from_pretrained(config.model)
        self._tokenizer.padding_side = "left"
        if self._tokenizer.pad_token is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token or self._tokenizer.unk_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self._model = (
            AutoModelForCausalLM.from_pretrained(config.model, dtype=dtype).to(self.device).eval()
        )
        self._context = getattr(self._model.config, "max_position_embeddings", None)
        self._chat_logged = False
        self._batch_size = config.hf_batch_size  # lowered after an out-of-memory error
        self._stats = {
            "requests": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "latency_ms": 0.0,
            "device_retries": 0,
        }
        LOG.info("hf translator: %s on %s", config.model, self.device)

    def sampling_json(self) -> str:
        return self._config.sampling_json()

    def stats(self) -> dict[str, float]:
        return dict(self._stats)

    def close(self) -> None:
        del self._model

    @property
    def batch_size(self) -> int:
        """Prompts per ``generate`` call now (``hf_batch_size``, or less after a device error)."""
        return self._batch_size

    def _prompt(self, request: TranslationRequest) -> str:
        text, used_template = render_prompt(self._tokenizer, request.messages())
        if not self._chat_logged:
            self._chat_logged = True
            if used_template:
                LOG.info("hf translator: using the tokenizer's chat template")
            else:
                LOG.warning(
                    "hf translator: %s has no chat template; using the plain prompt template",
                    self._config.model,
                )
        return text

    def translate(
        self, requests: list[TranslationRequest]
    ) -> list[Translation | TranslationFailure]:
        results: list[Translation | TranslationFailure | None] = [None] * len(requests)
        sampling = self.sampling_json()
        runnable: list[tuple[int, str]] = []
        for i, request in enumerate(requests):
            prompt = self._prompt(request)
            n_tokens = len(self._tokenizer(prompt)["input_ids"])
            if self._context and n_tokens + self._config.max_tokens > self._context:
                results[i] = TranslationFailure(
                    request,
                    Reason.PROMPT_TOO_LONG,
                    f"prompt of {n_tokens} tokens + max_tokens {self._config.max_tokens} exceeds the model's "
                    f"context of {self._context}",
                    None,
                    self.name,
                    PROMPT_VERSION,
                    sampling,
                )
            else:
                runnable.append((i, prompt))
        start = 0
        while start < len(runnable):
            chunk = runnable[start : start + self._batch_size]
            generated = self._generate_resilient(
                [requests[i] for i, _ in chunk], [p for _, p in chunk]
            )
            for (i, _), result in zip(chunk, generated, strict=True):
                results[i] = result
            start += len(chunk)
        return [r for r in results if r is not None]

    def _generate_resilient(
        self, requests: list[TranslationRequest], prompts: list[str]
    ) -> list[Translation | TranslationFailure]:
        """``_generate``, splitting the batch in halves on a device error (see the module docstring)."""
        try:
            return self._generate(requests, prompts)
        except Exception as exc:
            sampling = self.sampling_json()
            detail = f"generate failed: {type(exc).__name__}: {exc}"[:500]
            if not is_device_error(exc):  # the input's fault: the same on every re-run
                return [
                    TranslationFailure(
                        r,
                        Reason.TRANSLATOR_ERROR,
                        detail,
                        None,
                        self.name,
                        PROMPT_VERSION,
                        sampling,
                    )
                    for r in requests
                ]
            self._free_device_memory()
            self._stats["device_retries"] += 1
            if len(requests) == 1:
                return [
                    TranslationFailure(
                        requests[0],
                        Reason.INFERENCE_ERROR,
                        detail,
                        None,
                        self.name,
                        PROMPT_VERSION,
                        sampling,
                    )
                ]
            half = (len(requests) + 1) // 2
            if half < self._batch_size:
                LOG.warning(
                    "hf translator: %s; batch size %d -> %d", detail[:200], self._batch_size, half
                )
                self._batch_size = half
            out: list[Translation | TranslationFailure] = []
            start = 0
            while start < len(requests):  # at the current (possibly smaller again) batch size
                size = self._batch_size
                out += self._generate_resilient(
                    requests[start : start + size], prompts[start : start + size]
                )
                start += size
            return out

    def _free_device_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if self.device.startswith("cuda") and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generate(
        self, requests: list[TranslationRequest], prompts: list[str]
    ) -> list[Translation | TranslationFailure]:
        import torch

        c = self._config
        sampling = self.sampling_json()
        started = time.monotonic()
        enc = self._tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        kwargs = {"max_new_tokens": c.max_tokens, "pad_token_id": self._tokenizer.pad_token_id}
        if c.temperature > 0:
            seed = int.from_bytes(
                hashlib.sha256("|".join(r.key for r in requests).encode()).digest()[:4], "big"
            )
            torch.manual_seed(seed ^ c.seed)
            kwargs.update(do_sample=True, temperature=c.temperature, top_p=c.top_p)
        else:
            kwargs.update(do_sample=False)
        with torch.inference_mode():
            out = self._model.generate(**enc, **kwargs)
        latency = time.monotonic() - started
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        eos_ids = self._eos_ids()
        results: list[Translation | TranslationFailure] = []
        for row, request, mask in zip(
            new_tokens.tolist(), requests, enc["attention_mask"].tolist(), strict=True
        ):
            stop = next((k for k, tok in enumerate(row) if tok in eos_ids), None)
            generated = row if stop is None else row[:stop]
            truncated = stop is None and len(row) >= c.max_tokens
            reply = self._tokenizer.decode(generated, skip_special_tokens=True)
            self._stats["requests"] += 1
            self._stats["tokens_in"] += int(sum(mask))
            self._stats["tokens_out"] += len(generated) + (0 if stop is None else 1)
            results.append(
                build_result(
                    request,
                    reply,
                    truncated=truncated,
                    translator=self.name,
                    prompt_version=PROMPT_VERSION,
                    sampling=sampling,
                    latency_s=latency / len(requests),
                )
            )
        self._stats["latency_ms"] += latency * 1000
        return results

    def _eos_ids(self) -> set[int]:
        ids = set()
        for source in (self._model.generation_config.eos_token_id, self._tokenizer.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(source)
        return ids
