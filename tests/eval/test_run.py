"""``python -m eval.run`` end to end: a transformers baseline folder and (when the model package
can train) a real tiny MoSE checkpoint; metrics.json, report.md and frontier.png."""

from __future__ import annotations

import json

import pytest

from eval.run import main
from tests.eval.shards import humaneval_rows, write_release_shards


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    rows = humaneval_rows(48, split_of=lambda i: "test" if i % 4 == 0 else "train")
    return write_release_shards(tmp_path_factory.mktemp("release"), rows)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, shards):
    """A 2-layer BERT with a WordPiece vocabulary trained on the fixture (untrained weights)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    corpus = [r.func1_CSN + "\n" + r.func_documentation_string for r in humaneval_rows(48)]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        corpus,
        trainers.WordPieceTrainer(
            vocab_size=500, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    path = tmp_path_factory.mktemp("bert")
    fast.save_pretrained(path)
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(path)
    return path


def test_run_with_a_transformers_baseline(shards, tiny_bert, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(
        [
            f"--baseline={tiny_bert}",
            f"--data={shards}",
            "--split=test",
            f"--output={out}",
            "--latency_items=8",
            "--latency_repeats=1",
        ]
    )
    assert rc == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert [m["kind"] for m in doc["models"]] == ["baseline", "bm25", "chance"]
    baseline = doc["models"][0]
    assert [e["exit"] for e in baseline["exits"]] == [2]
    assert baseline["exits"][0]["parameters"] > 0
    assert "text-to-code/all" in baseline["exits"][0]["tasks"]
    assert (out / "frontier.png").stat().st_size > 0 and (out / "report.md").exists()
    assert "| BM25 |" in capsys.readouterr().out


def test_run_needs_a_model_and_tasks(tmp_path, shards):
    assert main([f"--data={shards}", f"--output={tmp_path}"]) == 2
    assert main(["--baseline=x", f"--data={tmp_path}", f"--output={tmp_path}"]) == 2


def test_run_with_a_real_tiny_mose_checkpoint(shards, tmp_path):
    """Train a tiny MoSE model for a couple of steps, then evaluate every exit through the CLI."""
    from model import train

    ckpt = tmp_path / "ckpt"
    assert (
        train.main(
            [
                f"--data={shards}",
                "--config=tiny",
                f"--output={ckpt}",
                "--objective=contrastive",
                "--steps=2",
                "--batch_size=4",
                "--max_length=64",
                "--log_every=1",
            ]
        )
        == 0
    )
    out = tmp_path / "eval"
    assert (
        main(
            [
                f"--model={ckpt}",
                f"--data={shards}",
                f"--output={out}",
                "--no_per_language",
                "--latency_items=8",
                "--latency_repeats=1",
                "--batch_size=8",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    mose = doc["models"][0]
    assert mose["kind"] == "mose" and [e["exit"] for e in mose["exits"]] == [2, 4, 6]
    params = [e["parameters"] for e in mose["exits"]]
    assert params == sorted(params) and params[0] < params[-1]
    assert all(e["ms_per_item"] > 0 for e in mose["exits"])
    report = (out / "report.md").read_text()
    assert "| ckpt | 4 |" in report and "| BM25 | - |" in report
    assert (out / "frontier.png").read_bytes()[:4] == b"\x89PNG"


def test_dump_tasks_without_a_model(shards, tmp_path, capsys):
    assert (
        main(
            [
                f"--data={shards}",
                f"--output={tmp_path / 'out'}",
                f"--dump_tasks={tmp_path / 'tasks'}",
            ]
        )
        == 0
    )
    corpus = (tmp_path / "tasks" / "text-to-code_all" / "corpus.jsonl").read_text().splitlines()
    python = [
        json.loads(line)["text"] for line in corpus if json.loads(line)["language"] == "python"
    ]
    assert python and all('"""' not in text for text in python)  # docstrings stripped
    assert "nothing evaluated" in capsys.readouterr().out


def test_run_evaluates_a_released_layout_folder_per_exit(shards, tmp_path, capsys):
    """--model on a ModularStarEncoder folder (random weights): every exit, chance rows, pools."""
    from tests.model.test_released import EXITS, write_released_folder

    folder = write_released_folder(tmp_path / "ModularStarEncoder")
    out = tmp_path / "eval"
    assert (
        main(
            [
                f"--model={folder}",
                f"--data={shards}",
                f"--output={out}",
                "--no_per_language",
                "--latency_items=4",
                "--latency_repeats=1",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    assert [m["kind"] for m in doc["models"]] == ["mose", "bm25", "chance"]
    assert [e["exit"] for e in doc["models"][0]["exits"]] == EXITS
    assert all(e["timed_items"] == 4 for e in doc["models"][0]["exits"])
    printed = capsys.readouterr().out
    assert "| chance | - |" in printed and "pool " in printed
    assert "median of 1 runs over 4 code items" in (out / "report.md").read_text()
    # the same folder as a --baseline is recognised as a MoSE model, not run as remote code
    assert (
        main(
            [
                f"--baseline={folder}",
                f"--data={shards}",
                f"--output={tmp_path / 'b'}",
                "--no_per_language",
                "--latency_items=2",
                "--latency_repeats=1",
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert [e["exit"] for e in doc["models"][0]["exits"]] == EXITS


def test_external_sets_and_title_through_the_cli(tiny_bert, tmp_path):
    """--external adds the field's tasks (here CodeXGLUE code search: test.jsonl against its
    own codebase.jsonl) beside or instead of the release; --title heads the report."""
    from tests.eval.test_external import _codesearch

    folder = _codesearch(tmp_path / "codesearch")
    out = tmp_path / "eval"
    assert (
        main(
            [
                f"--baseline={tiny_bert}",
                f"--external={folder}",
                f"--output={out}",
                "--title=Protocol check",
                "--latency_items=2",
                "--latency_repeats=1",
            ]
        )
        == 0
    )
    doc = json.loads((out / "metrics.json").read_text())
    bm25 = next(m for m in doc["models"] if m["kind"] == "bm25")
    assert list(bm25["exits"][0]["tasks"]) == [
        "codesearch/python"
    ]  # no --data: only the external set
    assert bm25["exits"][0]["tasks"]["codesearch/python"]["mrr"] > 0
    report = (out / "report.md").read_text()
    assert report.splitlines()[0].lstrip("# ") == "Protocol check"
    assert "codesearch/python" in report
