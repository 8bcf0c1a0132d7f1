"""Prompt templates: what a model is asked, and that the version travels with it."""

from __future__ import annotations

import pytest

from pipeline.translate import PROMPT_VERSION, render_messages, render_plain, render_prompt
from schemas import SourcePair

PAIR = SourcePair.create(
    repository_name="octo/algos",
    func_path_in_repository="algos/sums.py",
    func_name="sum_even",
    language="python",
    code='def sum_even(xs: list[int]) -> int:\n    """Sum the even numbers."""\n    return sum(x for x in xs if x % 2 == 0)\n',
    docstring="Sum the even numbers.\n\n>>> sum_even([1, 2, 4])\n6",
)


def test_messages_carry_code_docstring_and_instructions():
    system, user = render_messages(PAIR, "rust")
    assert system["role"] == "system" and user["role"] == "user"
    text = user["content"]
    assert "Translate the following Python function into Rust." in text
    assert PAIR.code.rstrip() in text and "```python\n" in text
    assert ">>> sum_even([1, 2, 4])" in text  # the docstring with its examples
    assert "Keep the function's name" in text and "behaviour" in text
    assert "exactly one fenced code block tagged `rust`" in text
    assert "Infer precise static types" in text  # python -> static target note
    assert "no crates" in text


def test_templates_differ_per_target_and_pair():
    go = render_messages(PAIR, "go")[1]["content"]
    ruby = render_messages(PAIR, "ruby")[1]["content"]
    assert "no package clause" in go and "def ... end" in ruby
    assert "Infer precise static types" not in ruby  # dynamic -> dynamic: no type note


def test_unknown_target_is_a_value_error():
    with pytest.raises(ValueError, match="cobol"):
        render_messages(PAIR, "cobol")


def test_prompt_version_is_a_short_tag():
    assert PROMPT_VERSION and len(PROMPT_VERSION) < 16


class _TemplateTokenizer:
    """Stand-in for a tokenizer with a chat template (records what it was asked)."""

    chat_template = "{% for m in messages %}<|{{m.role}}|>{{m.content}}{% endfor %}<|assistant|>"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|{m['role']}|>{m['content']}" for m in messages) + "<|assistant|>"


class _NoTemplateTokenizer:
    chat_template = None


def test_chat_template_is_used_when_the_tokenizer_has_one():
    messages = render_messages(PAIR, "go")
    text, used = render_prompt(_TemplateTokenizer(), messages)
    assert used and text.startswith("<|system|>") and text.endswith("<|assistant|>")


def test_plain_template_when_the_tokenizer_has_none():
    messages = render_messages(PAIR, "go")
    text, used = render_prompt(_NoTemplateTokenizer(), messages)
    assert not used and text == render_plain(messages)
    assert text.startswith("### System:") and text.endswith("### Assistant:\n")
