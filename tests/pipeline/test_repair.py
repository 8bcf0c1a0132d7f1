"""The repair loop (``--repair_rounds``): rejected translations go back to the model.

Without a real model that fails on cue, the model is a stand-in chat server
(``tests/standins/chat_server.py``, named as such): OpenAI-compatible, on 127.0.0.1, driven
by the pipeline's real ``openai`` backend through the official ``openai`` client. It answers
a first request with a subtly wrong Go translation and a feedback turn with a right one
(``tests/pipeline/repair_cases.py``). Everything else is real: the graph on the DirectRunner,
the parse check, the sandboxes, the caches. SmolLM2 runs one round for real, through
``transformers serve`` and through Beam's vLLM handler launching the vLLM stand-in.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest

from pipeline.execute import ExecuteConfig, Validator, select_best
from pipeline.feedback import FEEDBACK_VERSION
from pipeline.repair import render_card_section, repair_request, repair_stats, summary_line
from pipeline.run import main
from pipeline.stats import beam_metrics
from pipeline.translate import (
    PROMPT_VERSION,
    TranslateConfig,
    TranslationCache,
    TranslationRequest,
    cache_key,
)
from pipeline.translate.vllm import SampleGroup, repair_group, results_for
from pipeline.verdict_cache import VerdictCache
from schemas import Candidate, ExecStatus, SourcePair, Translation, Verdict
from tests.pipeline.repair_cases import FUNCTIONS, GO, write_source
from tests.standins.chat_server import StandInChatServer, TablePolicy, read_request
from tests.support import BACKENDS, get_sandbox

ROOT = Path(__file__).resolve().parents[2]
PAIR = SourcePair.create(
    repository_name="o/r",
    func_path_in_repository="m.py",
    func_name="clamp_add",
    language="python",
    code=FUNCTIONS["clamp_add"],
    docstring="Add, clamped.",
)
WRONG_GO = GO[("clamp_add", "go")][0]


def _repair(round_: int = 1, feedback: str = "Your Go code does not parse.", attempt: int = 0):
    return TranslationRequest(
        PAIR,
        "go",
        attempt,
        repair_round=round_,
        reply=f"```go\n{WRONG_GO}\n```",
        feedback=feedback,
        feedback_version=FEEDBACK_VERSION,
        repair_of="parse_error",
    )


# -- without a server ------------------------------------------------------------------------------


def test_a_repair_request_continues_the_conversation_and_has_its_own_cache_key():
    first = TranslationRequest(PAIR, "go")
    repair = _repair()
    assert repair.messages()[:2] == first.messages()
    assert repair.messages()[2:] == [
        {"role": "assistant", "content": repair.reply},
        {"role": "user", "content": repair.feedback},
    ]
    assert repair.key == f"{PAIR.pair_id}/go/0/repair1" and first.key == f"{PAIR.pair_id}/go/0"
    assert repair.prompt_version(PROMPT_VERSION) == f"{PROMPT_VERSION}+{FEEDBACK_VERSION}"
    keys = {
        cache_key(r, "openai:m", PROMPT_VERSION, "{}")
        for r in (first, repair, _repair(2), _repair(feedback="another feedback"))
    }
    assert len(keys) == 4  # round and conversation are part of the key
    with pytest.raises(ValueError, match="needs the previous reply"):
        TranslationRequest(PAIR, "go", repair_round=1)


def test_the_cache_gives_a_repair_back_with_its_round(tmp_path):
    cache = TranslationCache(tmp_path)
    repair = _repair()
    result = Translation(
        PAIR.pair_id,
        "go",
        "func ClampAdd() {}",
        "openai:m",
        f"{PROMPT_VERSION}+{FEEDBACK_VERSION}",
        "{}",
        0,
        0.1,
        "reply",
        repair_round=1,
        repair_of="parse_error",
    )
    cache.put_many([(repair, result)], "openai:m", PROMPT_VERSION, "{}")
    assert cache.get_many(
        [TranslationRequest(PAIR, "go"), _repair(2)], "openai:m", PROMPT_VERSION, "{}"
    ) == [None, None]
    assert cache.get_many([repair], "openai:m", PROMPT_VERSION, "{}") == [result]
    cache.close()


def _rejected(
    stage: str, reason: str, translator: str = "openai:m", reply: str | None = "```go\nx\n```"
):
    translation = Translation(PAIR.pair_id, "go", "x", translator, raw_reply=reply)
    verdict = Verdict(
        PAIR.pair_id, "go", parse_ok=stage != "parse", parse_error="1:1: syntax error near 'x'"
    )
    return Candidate(PAIR, translation, verdict).reject(stage, reason)


def test_which_rejections_go_to_repair():
    request, why = repair_request(_rejected("parse", "parse_error"), 1, "openai:m")
    assert why is None and request.repair_round == 1 and request.repair_of == "parse_error"
    assert request.feedback.startswith("Your Go code does not parse: 1:1: syntax error near 'x'.")
    assert repair_request(_rejected("translate", "truncated"), 1, "openai:m") == (
        None,
        "not_repairable",
    )
    assert repair_request(_rejected("execute", "no_tests"), 1, "openai:m") == (
        None,
        "not_repairable",
    )
    assert repair_request(_rejected("execute", "failed", "synthconl"), 1, "openai:m") == (
        None,
        "other_translator",
    )
    assert repair_request(_rejected("execute", "failed", reply=None), 1, "openai:m") == (
        None,
        "no_reply",
    )


def test_select_best_prefers_an_unrepaired_pass_then_the_earliest_repaired_one():
    def cand(attempt, round_, status):
        t = Translation(PAIR.pair_id, "go", "x", "openai:m", attempt=attempt, repair_round=round_)
        return Candidate(PAIR, t, Verdict(PAIR.pair_id, "go", attempt, True, exec_status=status))

    passed = ExecStatus.PASSED
    best, _ = select_best([cand(0, 2, passed), cand(1, 0, passed), cand(0, 1, passed)])
    assert (best.translation.attempt, best.translation.repair_round) == (1, 0)
    best, _ = select_best([cand(0, 2, passed), cand(1, 1, passed), cand(0, 0, ExecStatus.FAILED)])
    assert (best.translation.attempt, best.translation.repair_round) == (1, 1)


def test_stats_and_card_from_the_counters():
    counters = {
        "repair/candidates_go": 10,
        "repair/candidates_rust": 10,
        "repair/accepted_round0_go": 4,
        "repair/accepted_round0_rust": 2,
        "repair/accepted_round1_go": 3,
        "repair/accepted_round2_rust": 1,
        "repair/first_go_compile_error": 4,
        "repair/first_go_failed": 2,
        "repair/first_rust_parse_error": 8,
        "repair/fixed_go_compile_error": 3,
        "repair/fixed_rust_parse_error": 1,
        "repair/round1_sent": 14,
        "repair/round1_generated": 14,
        "repair/round1_tokens_in": 7000,
        "repair/round1_tokens_out": 1000,
        "repair/round2_sent": 10,
        "repair/round2_cache_hits": 10,
        "repair/skipped_no_reply": 1,
    }
    stats = repair_stats({"counters": counters}, 2)
    assert stats["pass_rate"]["go"] == {
        "candidates": 10,
        "accepted": [4, 7, 7],
        "rate": [0.4, 0.7, 0.7],
    }
    assert stats["pass_rate"]["all"]["rate"] == [0.3, 0.45, 0.5]
    assert stats["error_kinds"]["compile_error"] == {
        "first": 4,
        "fixed": 3,
        "not_fixed": 1,
        "per_target": {"go": {"first": 4, "fixed": 3, "not_fixed": 1}},
    }
    assert stats["error_kinds"]["failed"]["not_fixed"] == 2
    assert stats["recovered_rows"] == 4 and stats["tokens_per_recovered_row"] == 2000.0
    assert stats["generated_from_cache"] == 10 and stats["skipped"] == {"no_reply": 1}
    card = render_card_section({"repair": stats})
    assert "| go | 10 | 40.0% (4) | 70.0% (7) | 70.0% (7) |" in card
    assert "| compile_error | 4 | 3 | 1 |" in card and "2000.0 tokens per recovered row" in card
    assert summary_line({"repair": stats}).startswith(
        "repair: pass rate after rounds 0..2: 30.0% -> 45.0% -> 50.0%"
    )
    assert render_card_section({}) == "" and summary_line({}) is None


def test_vllm_sends_each_repair_alone_and_reads_its_only_choice():
    repair = _repair(attempt=1)
    group = repair_group(repair)
    assert group.requests() == [repair] and group.messages() == repair.messages()

    class Choice:
        index, finish_reason = 0, "stop"
        message = type(
            "M", (), {"content": "```go\nfunc ClampAdd(a int, b int) int {\n\treturn a + b\n}\n```"}
        )

    reply = type("Reply", (), {"choices": [Choice()], "usage": None})
    config = TranslateConfig(translator="vllm", model="m", num_samples=1)
    [(request, result)] = results_for(group, reply, config)
    assert request is repair and (result.attempt, result.repair_round, result.repair_of) == (
        1,
        1,
        "parse_error",
    )
    assert result.prompt_version == f"{PROMPT_VERSION}+{FEEDBACK_VERSION}"
    first = SampleGroup(PAIR, "go", (0, 1))
    assert [first.choice_index(r) for r in first.requests()] == [0, 1]
    from pipeline.translate import TranslateRequests

    with pytest.raises(ValueError, match="num_samples=1"):
        TranslateRequests(dataclasses.replace(config, num_samples=2, temperature=0.5))


def test_hf_prompts_hold_the_whole_conversation(tmp_path):
    pytest.importorskip("transformers")
    from pipeline.translate.hf import HFTranslator
    from tests.pipeline.test_translate_hf import save_tiny_model

    template = (
        "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<eos>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    model = save_tiny_model(tmp_path / "chat", chat_template=template)
    translator = HFTranslator(
        TranslateConfig(translator="hf", model=model, max_tokens=4, hf_device="cpu")
    )
    repair = _repair()
    prompt = translator._prompt(repair)
    first = prompt.index("<|user|>Translate the following Python function into Go.")
    assert first < prompt.index(f"<|assistant|>{repair.reply}<eos>") < prompt.index(
        f"<|user|>{repair.feedback}<eos>"
    ) and prompt.endswith("<|assistant|>")
    [result] = translator.translate(
        [repair]
    )  # noise from a random model: a failure, keeping its round
    assert (
        result.repair_round if isinstance(result, Translation) else result.request.repair_round
    ) == 1


# -- end to end, with the stand-in chat server ---------------------------------------------------


def _argv(
    source: Path, server: StandInChatServer, out: Path, rounds: int, backend: str
) -> list[str]:
    return [
        "--runner=DirectRunner",
        f"--source=csn:{source}",
        "--target_languages=go",
        "--translator=openai",
        f"--openai_base_url={server.base_url}",
        "--model=stand-in",
        f"--repair_rounds={rounds}",
        f"--sandbox={backend}",
        "--decontaminate=",
        f"--output={out}",
    ]


def _rows(directory: Path) -> list[dict]:
    return [
        r for path in sorted(directory.glob("*.parquet")) for r in pq.read_table(path).to_pylist()
    ]


def _stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def _calls(backend: str) -> tuple[set[str], set[str]]:
    """The calls (Python notation) of the given and of the held-out cases of the test functions."""
    validator = Validator(ExecuteConfig(sandbox=backend), get_sandbox(backend), VerdictCache(None))
    pairs = [
        SourcePair.create(
            repository_name="o/repair",
            func_path_in_repository=f"m/{n}.py",
            func_name=n,
            language="python",
            code=c,
            docstring="d",
        )
        for n, c in FUNCTIONS.items()
    ]
    given, held = set(), set()
    for pair_id, tests in validator.source_tests(pairs).items():
        name = next(p.func_name for p in pairs if p.pair_id == pair_id)
        for case in tests.cases:
            call = f"{name}({', '.join(repr(a) for a in ast.literal_eval(case.args))})"
            (held if case.origin == "generated" else given).add(call)
    return given, held


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_without_repair_nothing_passes_and_one_round_repairs_everything(tmp_path, backend):
    get_sandbox(backend)
    source = write_source(tmp_path / "src.jsonl")
    out = tmp_path / "out"
    with StandInChatServer(TablePolicy(GO)) as server:
        assert main(_argv(source, server, out, 0, backend)) == 0
        assert _rows(out / "data") == []
        assert sorted(r["reason"] for r in _rows(out / "rejected")) == [
            "compile_error",
            "failed",
            "failed",
            "parse_error",
        ]
        assert "repair" not in _stats(out)
    with StandInChatServer(
        TablePolicy(GO)
    ) as server:  # the same output: round 0 comes from the cache
        assert main(_argv(source, server, out, 1, backend)) == 0
        chats = server.conversations()
    assert [read_request(chat)[3] for chat in chats] == [1, 1, 1, 1]  # only repairs were generated
    released = _rows(out / "data")
    assert sorted(
        (r["func1_CSN"].split("(")[0][4:], r["exec_status"], r["repair_round"]) for r in released
    ) == [(name, "passed", 1) for name in sorted(FUNCTIONS)]
    assert _rows(out / "rejected") == []
    stats = _stats(out)
    assert stats["accounting"]["balanced"]
    assert stats["repair"]["pass_rate"]["go"] == {
        "candidates": 4,
        "accepted": [0, 4],
        "rate": [0.0, 1.0],
    }
    assert stats["repair"]["error_kinds"] == {
        "compile_error": {
            "first": 1,
            "fixed": 1,
            "not_fixed": 0,
            "per_target": {"go": {"first": 1, "fixed": 1, "not_fixed": 0}},
        },
        "failed": {
            "first": 2,
            "fixed": 2,
            "not_fixed": 0,
            "per_target": {"go": {"first": 2, "fixed": 2, "not_fixed": 0}},
        },
        "parse_error": {
            "first": 1,
            "fixed": 1,
            "not_fixed": 0,
            "per_target": {"go": {"first": 1, "fixed": 1, "not_fixed": 0}},
        },
    }
    assert stats["repair"]["tokens_spent"] > 0 and stats["repair"]["recovered_rows"] == 4
    assert "## Repair rounds" in (out / "README.md").read_text()
    # Each repair is the first chat, the model's own reply, and one feedback turn.
    for chat in chats:
        name = read_request(chat)[0]
        assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"]
        assert (
            chat[:2]
            == TranslationRequest(
                SourcePair.create(
                    repository_name="o/repair",
                    func_path_in_repository=f"m/{name}.py",
                    func_name=name,
                    language="python",
                    code=FUNCTIONS[name],
                    docstring=FUNCTIONS[name].split('"""')[1].split("\n")[0],
                ),
                "go",
            ).messages()
        )
        assert GO[(name, "go")][0] in chat[2]["content"]
    turns = {read_request(chat)[0]: chat[-1]["content"] for chat in chats}
    assert "`clamp_add(60, 70)` returned `99`; expected `100`" in turns["clamp_add"]
    assert "matches the documented examples" in turns["scale"]  # only held-out cases failed
    assert (
        "count" in turns["digit_sum"]
        and "not used" in turns["digit_sum"]
        and "your_code.go:3:2" in turns["digit_sum"]
    )
    assert "does not parse" in turns["sign"]
    # No teaching to the test: the only calls a feedback turn shows are documented ones, and no
    # held-out call appears in any notation.
    given, held = _calls(backend)
    assert len(held) >= 10 and held.isdisjoint(given)
    for turn in turns.values():
        assert set(re.findall(r"`(\w+\([^`]*\))`", turn)) <= given
        for call in held:
            name, args = call.split("(", 1)
            assert (
                call not in turn
                and "".join(p.capitalize() for p in name.split("_")) + "(" + args not in turn
            )


@pytest.mark.slow
def test_a_model_that_never_improves_stops_after_the_last_round(tmp_path):
    get_sandbox("docker")
    source = write_source(tmp_path / "src.jsonl")
    out = tmp_path / "out"
    with StandInChatServer(TablePolicy(GO, improve=False)) as server:
        assert main(_argv(source, server, out, 2, "docker")) == 0
        rounds = sorted(read_request(chat)[3] for chat in server.conversations())
    # 4 first requests, then each rejected attempt once per round: round 2 sends round 1's reply back.
    assert len(rounds) == 12
    rejected = _rows(out / "rejected")
    assert _rows(out / "data") == [] and len(rejected) == 4
    assert {(r["stage"], r["reason"], r["repair_round"]) for r in rejected} == {
        ("execute", "failed", 2),
        ("execute", "compile_error", 2),
        ("parse", "parse_error", 2),
    }
    stats = _stats(out)
    assert stats["accounting"]["balanced"] and stats["accounting"]["translation_requests"] == 4
    repair = stats["repair"]
    assert repair["pass_rate"]["all"]["rate"] == [0.0, 0.0, 0.0]
    assert [r["sent"] for r in repair["per_round"]] == [4, 4]
    assert (
        sum(k["not_fixed"] for k in repair["error_kinds"].values()) == 4
        and repair["recovered_rows"] == 0
    )
    assert repair["tokens_per_recovered_row"] is None


@pytest.mark.slow
def test_resume_after_a_kill_in_round_one_regenerates_nothing_from_round_zero(tmp_path):
    get_sandbox("bwrap")
    source = write_source(tmp_path / "src.jsonl")
    out = tmp_path / "out"
    proc: dict[str, subprocess.Popen] = {}

    def kill_at_the_first_feedback_turn(body: dict) -> None:
        if read_request(body.get("messages") or [])[3] and proc["run"].poll() is None:
            os.killpg(proc["run"].pid, signal.SIGKILL)

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with StandInChatServer(TablePolicy(GO), on_request=kill_at_the_first_feedback_turn) as server:
        proc["run"] = subprocess.Popen(
            [sys.executable, "-m", "pipeline.run", *_argv(source, server, out, 1, "bwrap")],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, err = proc["run"].communicate(timeout=600)
        assert proc["run"].returncode == -signal.SIGKILL, err.decode()[-3000:]
        before = [read_request(chat) for chat in server.conversations()]
    first_round = {name for name, _, _, r in before if r == 0}
    assert first_round and [r for *_, r in before].count(1) == 1  # killed at its first repair
    assert not (out / "stats.json").exists()
    with StandInChatServer(TablePolicy(GO)) as server:
        assert main(_argv(source, server, out, 1, "bwrap")) == 0
        after = [read_request(chat) for chat in server.conversations()]
    again = {name for name, _, _, r in after if r == 0}
    assert again.isdisjoint(first_round), f"round 0 generated again: {again & first_round}"
    assert sorted(name for name, _, _, r in after if r == 1) == sorted(FUNCTIONS)
    stats = _stats(out)
    assert stats["translation"]["cache_hits"] >= len(first_round)
    assert stats["repair"]["pass_rate"]["go"]["accepted"] == [0, 4]


def test_py2many_holds_no_conversation_so_the_rounds_are_skipped_and_said_once(tmp_path, capfd):
    """No chat to continue: the run goes on as without repair, one log line says why."""
    source = write_source(tmp_path / "src.jsonl")
    out = tmp_path / "out"
    argv = [
        "--runner=DirectRunner",
        f"--source=csn:{source}",
        "--target_languages=go",
        "--translator=py2many",
        "--repair_rounds=2",
        "--sandbox=none",
        "--decontaminate=",
        f"--output={out}",
    ]
    assert main(argv) == 0  # it sets up logging itself (to stderr), as the command line does
    said = [line for line in capfd.readouterr().err.splitlines() if "pipeline.repair" in line]
    assert len(said) == 1 and said[0].endswith(
        "WARNING pipeline.repair: --repair_rounds=2: the py2many translator holds no "
        "conversation, so repair rounds are skipped"
    )
    stats = _stats(out)
    assert stats["accounting"]["balanced"]
    assert stats["repair"] == {
        "rounds": 0,
        "requested_rounds": 2,
        "skipped": "the py2many translator holds no conversation",
    }
    assert all(r["repair_round"] == 0 for r in _rows(out / "data"))
    assert "## Repair rounds" not in (out / "README.md").read_text()


# -- a real model ----------------------------------------------------------------------------------

SMOLLM2_PAIRS = ("gcd", "is_power_of_two", "clamp")


def _sample_subset(path: Path, names: tuple[str, ...]) -> Path:
    sample = ROOT / "pipeline" / "data" / "sample.jsonl"
    rows = [
        line for line in sample.read_text().splitlines() if json.loads(line)["func_name"] in names
    ]
    assert len(rows) == len(names)
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.slow
def test_smollm2_through_transformers_serve_runs_one_repair_round(tmp_path):
    """A real model, a real server: every row accounted for, repairs sent as continued chats."""
    from tests.pipeline.local_model import TransformersServe, smollm2_path

    get_sandbox("docker")
    model = smollm2_path()
    source = _sample_subset(tmp_path / "src.jsonl", SMOLLM2_PAIRS)
    out = tmp_path / "out"
    with TransformersServe(model, tmp_path / "serve.log") as serve:
        argv = [
            "--runner=DirectRunner",
            f"--source=csn:{source}",
            "--target_languages=go",
            "--translator=openai",
            f"--openai_base_url={serve.base_url}",
            f"--model={model}",
            "--max_tokens=200",
            "--repair_rounds=1",
            "--openai_concurrency=2",
            "--sandbox=docker",
            "--decontaminate=",
            f"--output={out}",
        ]
        assert main(argv) == 0
    stats = _stats(out)
    assert stats["accounting"]["balanced"] and stats["accounting"]["translation_requests"] == len(
        SMOLLM2_PAIRS
    )
    repair = stats["repair"]
    rows = _rows(out / "data") + _rows(out / "rejected")
    assert len(rows) == len(SMOLLM2_PAIRS)
    sent = repair["per_round"][0]["sent"]
    # SmolLM2 (135M) writes no valid Go for these: its first replies are parse or compile errors
    # (or cut at max_tokens, which is not repaired), and each repairable one went back once.
    first = sum(k["first"] for k in repair["error_kinds"].values())
    assert sent == first >= 1
    with sqlite3.connect(out / "cache" / "translations" / "translations.sqlite") as db:
        versions = dict(
            db.execute("SELECT prompt_version, COUNT(*) FROM translations GROUP BY prompt_version")
        )
    assert (
        versions.get(f"{PROMPT_VERSION}+{FEEDBACK_VERSION}", 0) == sent
    )  # the repairs, cached per round
    assert all(r.get("repair_round") in (0, 1) for r in rows)


@pytest.mark.slow
def test_vllm_repairs_go_through_beams_handler_with_n_1(tmp_path, monkeypatch):
    """Beam's real ``VLLMChatModelHandler`` launches the vLLM stand-in; a repair pass is its own
    RunInference with ``n=1``, its replies carry their round and are cached per round."""
    from pipeline.translate import TranslateRequests
    from pipeline.translate.server_args import parse_server_kwargs
    from pipeline.translate.vllm import stop_vllm_servers
    from tests.pipeline.local_model import smollm2_path, use_vllm_standin

    use_vllm_standin(monkeypatch)
    log = tmp_path / "requests.log"
    config = TranslateConfig(
        translator="vllm",
        model=smollm2_path(),
        max_tokens=16,
        temperature=0.0,
        num_samples=1,
        target_languages=("go",),
        cache_dir=str(tmp_path / "cache"),
        vllm_server_kwargs=parse_server_kwargs("max-model-len=2048,enable-log-requests"),
    )
    requests = [_repair(attempt=0), _repair(attempt=1, feedback="Your Go code does not compile.")]

    def run() -> tuple[list[dict], dict]:
        p = beam.Pipeline(runner="DirectRunner")
        result = p | beam.Create(requests) | TranslateRequests(config)
        (
            (
                (result["candidates"] | "C" >> beam.Map(lambda c: c.translation.to_row())),
                (result["rejected"] | "R" >> beam.Map(lambda r: r.to_row())),
            )
            | beam.Flatten()
            | beam.Map(lambda row: json.dumps(row))
            | beam.io.WriteToText(str(log))
        )
        finished = p.run()
        finished.wait_until_finish()
        rows = [
            json.loads(line)
            for f in sorted(tmp_path.glob("requests.log*"))
            for line in f.read_text().splitlines()
        ]
        for f in tmp_path.glob("requests.log*"):
            f.unlink()
        return rows, beam_metrics(finished)["counters"]

    try:
        rows, counters = run()
    finally:
        stop_vllm_servers()
    # Attempt 1 is answered by choice 0 of its own reply; with n > 1 at temperature 0 the
    # stand-in, like vLLM, would have refused the request (HTTP 400).
    assert sorted((r["attempt"], r["repair_round"]) for r in rows) == [(0, 1), (1, 1)]
    assert all("refused" not in (r.get("detail") or "") for r in rows)
    assert counters["repair/round1_generated"] == 2 and counters["translate/vllm_requests"] == 2
    with sqlite3.connect(tmp_path / "cache" / "translations.sqlite") as db:
        assert (
            db.execute(
                "SELECT COUNT(*) FROM translations WHERE prompt_version = ?",
                (f"{PROMPT_VERSION}+{FEEDBACK_VERSION}",),
            ).fetchone()[0]
            == 2
        )
    rows, counters = run()  # the cache answers: no server is started at all
    assert sorted((r["attempt"], r["repair_round"]) for r in rows) == [(0, 1), (1, 1)]
    assert counters["repair/round1_cache_hits"] == 2 and "repair/round1_generated" not in counters
