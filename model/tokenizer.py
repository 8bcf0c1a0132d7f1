"""Tokenizer and input formats of the MoSE encoder (DESIGN.md section 7).

Two sources: StarCoder2's tokenizer (``tokenizer.json`` under a local path) with ``<pad>``,
``<sep>``, ``<cls>`` and ``<mask>`` added (49,152 + 4 = the released vocabulary of 49,156), or,
when none is given (this machine cannot reach the Hub), a byte-level BPE trained offline with
``tokenizers`` on the training shards' code and documentation. Either way it is saved next to
the checkpoint as a ``PreTrainedTokenizerFast`` (``tokenizer.json`` + ``tokenizer_config.json``,
``padding_side="left"``).

Formats: pretraining ``<sep>code<cls>`` (several snippets: ``<sep>a<sep>b<cls>``); fine-tuning
and encoding ``<sep>instruction<sep>text<cls>`` with the released instructions. Sequences are
LEFT padded so that ``<cls>``, the pooled position, is always the last token.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<sep>", "<cls>", "<mask>")

#: Released instruction prefixes (DESIGN.md section 7).
CODE_INSTRUCTION = "Represent this {language} code snippet for retrieval:"
TEXT_INSTRUCTION = "Represent this code description for retrieving supporting snippets of code:"

_DISPLAY_NAMES = {
    "python": "Python",
    "java": "Java",
    "javascript": "JavaScript",
    "go": "Go",
    "php": "PHP",
    "ruby": "Ruby",
    "cpp": "C++",
    "c++": "C++",
    "c": "C",
    "rust": "Rust",
    "typescript": "TypeScript",
    "csharp": "C#",
}


def language_display_name(language: str) -> str:
    """``"cpp"`` -> ``"C++"``; unknown names are returned as given."""
    return _DISPLAY_NAMES.get(language.strip().lower(), language)


class MoseTokenizer:
    """A ``tokenizers.Tokenizer`` plus the special ids and the MoSE input formats."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            raise ValueError(f"tokenizer lacks special tokens {missing}")
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.token_to_id("<pad>")
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
        """StarCoder2's ``tokenizer.json`` (a file or a directory holding it) plus the specials."""
        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        if not file.is_file():
            raise ValueError(f"no tokenizer.json at {path}")
        tok = Tokenizer.from_file(str(file))
        tok.add_special_tokens([t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None])
        return cls(tok)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> MoseTokenizer:
        """Load the tokenizer saved by :meth:`save` (or any dir with a compatible tokenizer.json)."""
        file = Path(directory) / "tokenizer.json"
        if not file.is_file():
            raise ValueError(f"no tokenizer.json in {directory}")
        return cls(Tokenizer.from_file(str(file)))

    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``tokenizer.json`` and a ``tokenizer_config.json`` that transformers can load."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(directory / "tokenizer.json"))
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "pad_token": "<pad>",
            "sep_token": "<sep>",
            "cls_token": "<cls>",
            "mask_token": "<mask>",
            "padding_side": "left",
            "model_max_length": 1_000_000,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")

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
            self.pack(
                [
                    self._instruction(
                        CODE_INSTRUCTION.format(language=language_display_name(lang))
                    ),
                    body,
                ],
                max_length,
            )
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
