"""``--vllm_server_kwargs``: extra flags for the vLLM server that Beam starts on each worker.

Beam's ``VLLMChatModelHandler`` turns a dict into the server's command line: ``{k: v}``
becomes ``--k v``, and ``{k: None}`` becomes a bare ``--k``. So a bare flag must map to None:
an empty string would be passed as an argument of its own, which vLLM's parser refuses
(``unrecognized arguments: ''``), and the server never starts.

Accepted forms of the flag's value (all give the same dict):

* ``k=v,k2=v2,flag``: comma-separated items; a bare ``flag`` has no value. Commas inside
  brackets, braces or quotes do not split, so JSON values work:
  ``max-model-len=4096,enable-prefix-caching,compilation-config={"level": 3, "cudagraph_capture_sizes": [1, 2]}``.
* a JSON object: ``{"max-model-len": 4096, "enable-prefix-caching": true}``.
* ``@FILE`` or a path ending in ``.json``/``.yaml``/``.yml``: a file holding such an object
  (YAML as vLLM's own ``--config`` takes it). It is read where the pipeline is launched and
  travels with the options, so workers do not need the file.

In a JSON or YAML object, ``true`` is a bare flag, ``false`` is ``--no-<flag>`` (vLLM's boolean
flags are ``--flag/--no-flag`` pairs), numbers become strings, and lists and objects are
passed as JSON text (vLLM parses JSON-typed flags such as ``compilation-config``). Keys may
carry a leading ``--``; underscores are kept (vLLM accepts both spellings).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split ``text`` on ``sep`` outside brackets, braces and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    current: list[str] = []
    escaped = False
    for ch in text:
        if quote:
            current.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if quote or depth:
        raise ValueError(f"unbalanced quotes or brackets in {text!r}")
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _key(raw: str) -> str:
    key = raw.strip()
    if key.startswith("--"):
        key = key[2:]
    if not _KEY.match(key):
        raise ValueError(f"bad vLLM server flag name {raw!r}")
    return key


def _value(key: str, value: Any) -> tuple[str, str | None]:
    """A JSON/YAML value as (flag, argument or None)."""
    if value is True or value is None:
        return key, None
    if value is False:
        return f"no-{key}", None
    if isinstance(value, (dict, list)):
        return key, json.dumps(value, separators=(",", ":"))
    return key, str(value)


def from_mapping(mapping: Mapping[str, Any]) -> dict[str, str | None]:
    """Flags from a JSON/YAML object (see the module docstring for how values map)."""
    out: dict[str, str | None] = {}
    for raw_key, raw_value in mapping.items():
        key, value = _value(_key(str(raw_key)), raw_value)
        out[key] = value
    return out


def _read_file(path: str) -> dict[str, str | None]:
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)  # YAML is a superset of JSON
    except OSError as exc:
        raise ValueError(f"cannot read vLLM server flags from {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML/JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping of flag -> value, got {type(data).__name__}")
    return from_mapping(data)


def parse_server_kwargs(value: str | Mapping[str, Any] | None) -> dict[str, str | None]:
    """The vLLM server flags given by ``--vllm_server_kwargs`` (raises ``ValueError`` on bad input)."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return from_mapping(value)
    text = value.strip()
    if not text:
        return {}
    if text.startswith("@"):
        return _read_file(os.path.expanduser(text[1:]))
    if text.lower().endswith((".json", ".yaml", ".yml")) and "=" not in text:
        return _read_file(os.path.expanduser(text))
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--vllm_server_kwargs is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("--vllm_server_kwargs JSON must be an object")
        return from_mapping(data)
    out: dict[str, str | None] = {}
    for item in split_top_level(text):
        key, sep, val = item.partition("=")
        out[_key(key)] = val.strip() if sep else None
    return out


def human_readable_int(value: str) -> int | None:
    """vLLM's reading of ``--max-model-len``: ``4096``, ``32k`` (32,000), ``32K`` (32,768);
    ``auto``/``-1`` (derive from the model) give None."""
    text = value.strip()
    if text.lower() == "auto" or text == "-1":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG])", text)
    if match:
        number, suffix = match.groups()
        if suffix.islower():
            return int(float(number) * {"k": 10**3, "m": 10**6, "g": 10**9}[suffix])
        return int(number) * {"K": 2**10, "M": 2**20, "G": 2**30}[suffix]
    return int(text)


def flag_value(kwargs: Mapping[str, str | None], name: str) -> str | None:
    """The value of flag ``name`` in either spelling (``max-model-len`` / ``max_model_len``)."""
    for key in (name, name.replace("-", "_"), name.replace("_", "-")):
        if key in kwargs:
            return kwargs[key]
    return None


def max_model_len(kwargs: Mapping[str, str | None]) -> int | None:
    """``--max-model-len`` from the server flags, or None when the server derives it."""
    value = flag_value(kwargs, "max-model-len")
    return None if value is None else human_readable_int(value)
