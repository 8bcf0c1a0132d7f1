"""Tokenizer and input formats of the MoSE encoder (docs/model.md).

Two sources: StarCoder2's tokenizer (``tokenizer.json`` under a local path) with ``<sep>``,
``<cls>`` and ``<mask>`` appended (ids 49152, 49153, 49154: the released vocabulary of 49,156
rows keeps one spare) and padding with id 0 (``<|endoftext|>``), as the released
ModularStarEncoder does (pad, bos and eos ids 0 in its config); or, when none is given (this
machine cannot reach the Hub), a byte-level BPE trained offline with ``tokenizers`` on the
training shards' code and documentation, whose first four ids are ``<pad> <sep> <cls> <mask>``.
Either way it is saved next to the checkpoint as a ``PreTrainedTokenizerFast``
(``tokenizer.json``, ``tokenizer_config.json`` with ``padding_side="left"``,
``special_tokens_map.json`` and ``added_tokens.json``), and a released folder's tokenizer files
load as they are.

Formats: pretraining ``<sep>code<cls>`` (several snippets: ``<sep>a<sep>b<cls>``); fine-tuning
and encoding ``<sep>instruction<sep>text<cls>`` with the released instructions, the language
written lower-case as the released model card asks. Sequences are LEFT padded so that
``<cls>``, the pooled position, is always the last token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from languages import REGISTRY

#: Special tokens of a tokenizer trained here, ids 0..3 in this order.
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<sep>", "<cls>", "<mask>")
#: The tokens every MoSE tokenizer must have (the released ones, appended to StarCoder2's BPE).
REQUIRED_TOKENS: tuple[str, ...] = ("<sep>", "<cls>", "<mask>")

#: Released instruction prefixes (ModularStarEncoder-finetuned model card).
CODE_INSTRUCTION = "Represent this {language} code snippet for retrieval:"
TEXT_INSTRUCTION = "Represent this code description for retrieving supporting snippets of code:"

#: Display names: the language registry's (``languages/``), plus C# (a language the released
#: encoder was evaluated on that the pipeline does not translate) and the ``c++`` spelling.
_DISPLAY_NAMES = {
    **{name: spec.display_name for name, spec in REGISTRY.items()},
    "c++": "C++",
    "csharp": "C#",
}


#: Canonical language names the instructions know a display name for.
KNOWN_LANGUAGES: tuple[str, ...] = tuple(sorted(k for k in _DISPLAY_NAMES if k != "c++"))


def language_display_name(language: str) -> str:
    """``"cpp"`` -> ``"C++"``; unknown names are returned as given."""
    return _DISPLAY_NAMES.get(language.strip().lower(), language)


def instruction_language(language: str) -> str:
    """The language as the code instruction writes it: lower case (``"cpp"`` -> ``"c++"``).

    The released card asks for the language "lowercased"; the display name is lower-cased so
    ``cpp`` and ``c++`` give the same instruction.
    """
    return language_display_name(language).lower()


def code_instruction(language: str) -> str:
    """``Represent this python code snippet for retrieval:`` for ``language="python"``."""
    return CODE_INSTRUCTION.format(language=instruction_language(language))


def _token_content(value: object) -> str | None:
    """A special token as written in tokenizer_config.json: a string or ``{"content": ...}``."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


class MoseTokenizer:
    """A ``tokenizers.Tokenizer`` plus the special ids and the MoSE input formats.

    ``pad_token`` names the padding token; by default ``<pad>`` when the vocabulary has one,
    else the token with id 0 (StarCoder2's ``<|endoftext|>``, the released padding).
    """

    def __init__(self, tokenizer: Tokenizer, pad_token: str | None = None) -> None:
        missing = [t for t in REQUIRED_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            raise ValueError(f"tokenizer lacks special tokens {missing}")
        if pad_token is None:
            pad_token = (
                "<pad>" if tokenizer.token_to_id("<pad>") is not None else tokenizer.id_to_token(0)
            )
        if pad_token is None or tokenizer.token_to_id(pad_token) is None:
            raise ValueError(f"padding token {pad_token!r} is not in the vocabulary")
        self.tokenizer = tokenizer
        self.pad_token = pad_token
        self.pad_id = tokenizer.token_to_id(pad_token)
        self.sep_id = tokenizer.token_to_id("<sep>")
        self.cls_id = tokenizer.token_to_id("<cls>")
        self.mask_id = tokenizer.token_to_id("<mask>")
        self.special_ids = frozenset((self.pad_id, self.sep_id, self.cls_id, self.mask_id))
        self._instruction_cache: dict[str, list[int]] = {}

    # -- construction -------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> MoseTokenizer:
        """Train a byte-level BPE of ``vocab_size`` tokens (specials included) on ``texts``."""
        if vocab_size < 256 + len(SPECIAL_TOKENS):
            raise ValueError("vocab_size must be at least 260 (bytes + special tokens)")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        return cls(tok)

    @classmethod
    def from_starcoder2(cls, path: str | os.PathLike[str]) -> MoseTokenizer:
        """StarCoder2's ``tokenizer.json`` (a file or a directory) with the released specials.

        ``<sep>``, ``<cls>`` and ``<mask>`` are appended in that order (49152, 49153, 49154 on
        StarCoder2's 49,152-token vocabulary) and id 0 pads, as in the released checkpoint.
        """
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"no tokenizer.json at {path}")
        tok = Tokenizer.from_file(str(file))
        tok.add_special_tokens([t for t in REQUIRED_TOKENS if tok.token_to_id(t) is None])
        return cls(tok)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> MoseTokenizer:
        """A saved tokenizer folder: ours, or a released one (``added_tokens.json`` honoured).

        Tokens listed in ``added_tokens.json`` but absent from ``tokenizer.json`` are added;
        an id that disagrees with the file is a ValueError. The padding token is the
        ``pad_token`` of ``tokenizer_config.json`` when it names a token of the vocabulary.
        """
        directory = Path(directory)
        file = directory / "tokenizer.json"
        if not file.is_file():
            raise ValueError(f"no tokenizer.json in {directory}")
        tok = Tokenizer.from_file(str(file))
        added_file = directory / "added_tokens.json"
        if added_file.is_file():
            added = json.loads(added_file.read_text(encoding="utf-8"))
            for token, wanted in sorted(added.items(), key=lambda kv: kv[1]):
                if tok.token_to_id(token) is None:
                    tok.add_special_tokens([token])
                if tok.token_to_id(token) != wanted:
                    raise ValueError(
                        f"{added_file}: {token!r} should have id {wanted}, the tokenizer gives "
                        f"{tok.token_to_id(token)}"
                    )
        pad_token = None
        config_file = directory / "tokenizer_config.json"
        if config_file.is_file():
            configured = _token_content(
                json.loads(config_file.read_text(encoding="utf-8")).get("pad_token")
            )
            if configured is not None and tok.token_to_id(configured) is not None:
                pad_token = configured
        return cls(tok, pad_token)

    def save(self, directory: str | os.PathLike[str], model_max_length: int = 1_000_000) -> None:
        """Write the files transformers' ``AutoTokenizer`` reads (a ``PreTrainedTokenizerFast``).

        ``model_input_names`` leaves out ``token_type_ids``, which a StarCoder2 backbone does
        not take.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(directory / "tokenizer.json"))
        specials = {
            "pad_token": self.pad_token,
            "sep_token": "<sep>",
            "cls_token": "<cls>",
            "mask_token": "<mask>",
        }
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            **specials,
            "padding_side": "left",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": model_max_length,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (directory / "special_tokens_map.json").write_text(json.dumps(specials, indent=2) + "\n")
        named = ("<pad>", *REQUIRED_TOKENS)
        added = {
            t: self.tokenizer.token_to_id(t)
            for t in named
            if self.tokenizer.token_to_id(t) is not None
        }
        (directory / "added_tokens.json").write_text(json.dumps(added, indent=2) + "\n")

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size(with_added_tokens=True)

    # -- encoding -----------------------------------------------------------------------
    def encode_plain(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, no special tokens added."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def _instruction(self, text: str) -> list[int]:
        if text not in self._instruction_cache:
            self._instruction_cache[text] = self.encode_plain([text])[0]
        return self._instruction_cache[text]

    def pack(self, parts: Sequence[Sequence[int]], max_length: int) -> list[int]:
        """``<sep>p0<sep>p1...<cls>`` within ``max_length``; the last part is truncated first."""
        if max_length < len(parts) + 1:
            raise ValueError("max_length too small for the number of parts")
        budget = max_length - len(parts) - 1
        kept: list[list[int]] = []
        for part in parts:
            take = list(part[: max(0, budget)])
            budget -= len(take)
            kept.append(take)
        ids: list[int] = []
        for part in kept:
            ids.append(self.sep_id)
            ids.extend(part)
        ids.append(self.cls_id)
        return ids

    def format_code(
        self, codes: Sequence[str], languages: Sequence[str], max_length: int
    ) -> list[list[int]]:
        """``<sep>Represent this {language} code snippet for retrieval:<sep>code<cls>``."""
        if len(codes) != len(languages):
            raise ValueError("codes and languages differ in length")
        bodies = self.encode_plain(codes)
        return [
            self.pack([self._instruction(code_instruction(lang)), body], max_length)
            for body, lang in zip(bodies, languages, strict=True)
        ]

    def format_text(self, texts: Sequence[str], max_length: int) -> list[list[int]]:
        """``<sep>Represent this code description for retrieving ...:<sep>text<cls>``."""
        instruction = self._instruction(TEXT_INSTRUCTION)
        return [self.pack([instruction, body], max_length) for body in self.encode_plain(texts)]

    def pad_left(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-pad to the longest: (input_ids, attention_mask), both (B, T) long."""
        if not sequences:
            raise ValueError("nothing to pad")
        width = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if seq:
                ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
                mask[row, width - len(seq) :] = 1
        return ids, mask
