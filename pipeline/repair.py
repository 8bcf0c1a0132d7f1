"""The repair loop (``--repair_rounds=R``): rejected translations go back to the model.

A translation rejected at the parse check or at execution for a reason the model can act on
(``feedback.REPAIRABLE``: ``parse_error``, ``compile_error``, ``runtime_error``, ``failed``,
``timeout``, ``memory_exceeded``) becomes a *repair request*: the same backend gets the first
request's messages, the model's own reply and a feedback turn (``feedback.render_feedback``)
holding the parser's or compiler's message, or the given cases that failed with what came
back. Held-out (generated) cases are never shown; the repaired translation goes through the
parse check and execution again, all cases included. Up to R rounds, each round unrolled in
the Beam graph (a graph cannot loop) as a composite ``RepairRound<r>``:

    rejected of round r-1 -> Split -> TranslateRequests -> ParseCheck -> Execute
                              |                                  |          |-> accepted of round r
                              |-> final rejections               |----------+-> rejected of round r

Each round's requests are batched like the first round's (the same ``TranslateRequests``
plumbing: cache lookup, batches, the backend). Only the last reply of a chain is sent back,
not the whole history: round r's conversation is the first request, round r-1's reply and
its feedback, so prompts do not grow with the rounds.

Every translation request still ends as exactly one row: a rejected attempt that goes into a
repair round is replaced by the repair's outcome, and the row records which round produced it
(``repair_round``). Repair replies are cached per round (``TranslationRequest`` keys carry the
round, a digest of the reply and feedback, and ``FEEDBACK_VERSION`` in the prompt version),
so a re-run pays for no repair twice. ``SelectBestAttempt`` prefers an unrepaired pass, then
the earliest repaired one.

Backends: ``openai``, ``vllm`` (a repair pass is its own ``VLLMTranslate`` with ``n=1``) and
``hf``. ``py2many`` has no conversation: the rounds are skipped (logged once).

Counters (namespace ``repair``), read back by ``repair_stats`` into ``stats.json``:
``candidates_<target>`` (every first-round outcome), ``accepted_round<r>_<target>``,
``first_<target>_<reason>`` (first attempts sent to round 1, by rejection reason),
``fixed_<target>_<reason>`` (of those, accepted in a later round), ``round<r>_sent``,
``round<r>_cache_hits``, ``round<r>_generated``, ``round<r>_tokens_in|out`` and
``skipped_<why>``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Any

import apache_beam as beam

from pipeline.execute import Execute, ExecuteConfig
from pipeline.feedback import FEEDBACK_VERSION, REPAIRABLE, render_feedback
from pipeline.parse_check import ParseCheck
from pipeline.settings import setting
from pipeline.translate import (
    TranslateConfig,
    TranslateRequests,
    TranslationRequest,
    resolve_translator,
    translator_identity,
)
from pipeline.translate.transform import REPAIR_NAMESPACE as NAMESPACE
from schemas import Candidate, RejectedRow

LOG = logging.getLogger(__name__)

#: Backends that hold a conversation (py2many is rule-based: nothing to continue).
CONVERSATIONAL: tuple[str, ...] = ("openai", "vllm", "hf")
#: Stages whose rejections a repair round takes (the translate stage's are not the code's fault).
STAGES: tuple[str, ...] = ("parse", "execute")


@dataclasses.dataclass(frozen=True)
class RepairConfig:
    """Configuration of the repair loop.

    Attributes:
        rounds: repair rounds after the first translation (0: no repair).
    """

    rounds: int = setting(
        0,
        flag="repair_rounds",
        type=int,
        help="send translations rejected at the parse check or execution back to the model with the parser's, "
        "compiler's or failing examples' feedback, up to N times (0: no repair)",
    )

    def __post_init__(self) -> None:
        if self.rounds < 0:  # "--repair_rounds must be ..." on the command line (settings.build)
            raise ValueError(f"rounds must be >= 0, got {self.rounds}")

    def __str__(self) -> str:
        return f"RepairConfig(rounds={self.rounds}, feedback={FEEDBACK_VERSION})"


def _counter(name: str, n: int = 1) -> None:
    beam.metrics.Metrics.counter(NAMESPACE, name).inc(n)


def repair_request(
    row: RejectedRow, repair_round: int, translator: str
) -> tuple[TranslationRequest | None, str | None]:
    """(the repair request for a rejected row, None) or (None, why it is not repaired).

    ``translator`` is the run's ``backend:model``: a row translated by anything else (a
    ready-made synthconl translation) has no conversation with this model to continue.
    """
    if row.stage not in STAGES or row.reason not in REPAIRABLE:
        return None, "not_repairable"
    candidate = Candidate.from_rejected(row)
    t = candidate.translation
    if t is None or t.raw_reply is None:
        return None, "no_reply"
    if t.translator != translator:
        return None, "other_translator"
    pair = candidate.pair
    feedback = render_feedback(
        row.reason, candidate.verdict, pair.language, t.target_language, pair.func_name
    )
    request = TranslationRequest(
        pair,
        t.target_language,
        t.attempt,
        repair_round=repair_round,
        reply=t.raw_reply,
        feedback=feedback,
        feedback_version=FEEDBACK_VERSION,
        repair_of=t.repair_of or row.reason,
    )
    return request, None


class _SplitFn(beam.DoFn):
    """Rejected rows of round r-1 -> repair requests of round r (main) or final rows (``final``)."""

    def __init__(self, repair_round: int, translator: str) -> None:
        self._round = repair_round
        self._translator = translator

    def process(self, row: RejectedRow):
        request, why = repair_request(row, self._round, self._translator)
        if request is None:
            if why != "not_repairable":
                _counter(f"skipped_{why}")
            yield beam.pvalue.TaggedOutput("final", row)
            return
        _counter(f"round{self._round}_sent")
        if self._round == 1:  # the first attempt's verdict, kept for the statistics
            _counter(f"first_{request.target_language}_{request.repair_of}")
        yield request


def _count_accepted(repair_round: int):
    def count(c: Candidate) -> Candidate:
        t = c.translation
        _counter(f"accepted_round{repair_round}_{t.target_language}")
        if repair_round == 0:
            _counter(f"candidates_{t.target_language}")
        elif t.repair_of:
            _counter(f"fixed_{t.target_language}_{t.repair_of}")
        return c

    return count


def _count_first_rejected(row: RejectedRow) -> RejectedRow:
    if row.target_language:
        _counter(f"candidates_{row.target_language}")
    return row


class _RepairRound(beam.PTransform):
    """One round: rejected rows in; outputs ``candidates`` (accepted), ``rejected`` (to the next
    round or final) and ``final`` (rows this round does not take)."""

    def __init__(
        self,
        repair_round: int,
        translate: TranslateConfig,
        execute: ExecuteConfig,
        translator: str,
        vllm_handler: Any = None,
    ) -> None:
        super().__init__()
        self._round = repair_round
        self._translate = translate
        self._execute = execute
        self._translator = translator
        self._vllm_handler = vllm_handler

    def expand(self, rejected):
        split = rejected | "Split" >> beam.ParDo(
            _SplitFn(self._round, self._translator)
        ).with_outputs("final", main="requests")
        translated = split.requests | "Translate" >> TranslateRequests(
            self._translate, self._vllm_handler
        )
        parsed = translated["candidates"] | "ParseCheck" >> ParseCheck()
        executed = parsed["candidates"] | "Execute" >> Execute(self._execute)
        accepted = executed["candidates"] | "CountAccepted" >> beam.Map(
            _count_accepted(self._round)
        )
        again = (
            translated["rejected"],
            parsed["rejected"],
            executed["rejected"],
        ) | "Rejected" >> beam.Flatten()
        return {"candidates": accepted, "rejected": again, "final": split.final}


class RepairLoop(beam.PTransform):
    """The first round's outcomes -> every round's accepted candidates and the final rejections.

    Input: a dict with ``accepted`` (candidates the execute stage kept in the first round) and
    ``rejected`` (the first round's rejected rows after the source: translate, parse and
    execute stages). Outputs ``candidates`` (accepted in any round, for ``SelectBestAttempt``)
    and ``rejected`` (one final row per request that no round got accepted).

    Args:
        config: the loop's config (rounds).
        translate: the run's translate config (the backend resolved); the rounds use it with
            ``num_samples=1``, one reply per rejected attempt.
        execute: the run's execute config.
        vllm_handler: optional keyed ModelHandler for the vllm path (tests).
    """

    def __init__(
        self,
        config: RepairConfig,
        translate: TranslateConfig,
        execute: ExecuteConfig,
        vllm_handler: Any = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._translate = translate
        self._execute = execute
        self._vllm_handler = vllm_handler

    def expand(self, inputs):
        accepted = inputs["accepted"] | "CountFirstAccepted" >> beam.Map(_count_accepted(0))
        rejected = inputs["rejected"] | "CountFirstRejected" >> beam.Map(_count_first_rejected)
        backend = resolve_translator(self._translate)
        if self._config.rounds == 0 or backend not in CONVERSATIONAL:
            if self._config.rounds:
                LOG.warning(
                    "--repair_rounds=%d: the %s translator holds no conversation, so repair rounds are "
                    "skipped",
                    self._config.rounds,
                    backend,
                )
            return {"candidates": accepted, "rejected": rejected}
        translate = dataclasses.replace(self._translate, translator=backend, num_samples=1)
        name = translator_identity(translate, backend)[0]
        outputs, finals = [accepted], []
        for r in range(1, self._config.rounds + 1):
            result = rejected | f"RepairRound{r}" >> _RepairRound(
                r, translate, self._execute, name, self._vllm_handler
            )
            outputs.append(result["candidates"])
            finals.append(result["final"])
            rejected = result["rejected"]
        finals.append(rejected)
        return {
            "candidates": tuple(outputs) | "AcceptedAllRounds" >> beam.Flatten(),
            "rejected": tuple(finals) | "FinalRejected" >> beam.Flatten(),
        }


# -- statistics and card --------------------------------------------------------------------


def _by(counters: dict[str, int], prefix: str) -> dict[str, int]:
    head = f"{NAMESPACE}/{prefix}"
    return {k[len(head) :]: int(v) for k, v in counters.items() if k.startswith(head)}


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def repair_stats(metrics: dict[str, Any], rounds: int) -> dict[str, Any]:
    """``stats.json["repair"]`` from the run's counters (see the module docstring).

    Pass rate: the share of a target language's candidates (translation requests, plus
    ready-made candidates) that the execute stage accepted after round 0, 1, ..., R.
    """
    counters = metrics.get("counters", {})
    totals = _by(counters, "candidates_")
    targets = sorted(totals)
    per_round = [_by(counters, f"accepted_round{r}_") for r in range(rounds + 1)]
    pass_rate: dict[str, Any] = {}
    for t in [*targets, "all"]:
        total = sum(totals.values()) if t == "all" else totals[t]
        running, accepted = 0, []
        for r in range(rounds + 1):
            running += sum(per_round[r].values()) if t == "all" else per_round[r].get(t, 0)
            accepted.append(running)
        pass_rate[t] = {
            "candidates": total,
            "accepted": accepted,
            "rate": [_rate(a, total) for a in accepted],
        }
    kinds: dict[str, dict[str, dict[str, int]]] = collections.defaultdict(dict)
    first, fixed = _by(counters, "first_"), _by(counters, "fixed_")
    for key, n in first.items():
        target, reason = key.split("_", 1)
        got = fixed.get(key, 0)
        kinds[reason][target] = {"first": n, "fixed": got, "not_fixed": n - got}
    by_kind = {
        reason: {
            "first": sum(v["first"] for v in per.values()),
            "fixed": sum(v["fixed"] for v in per.values()),
            "not_fixed": sum(v["not_fixed"] for v in per.values()),
            "per_target": dict(sorted(per.items())),
        }
        for reason, per in sorted(kinds.items())
    }
    round_rows = []
    for r in range(1, rounds + 1):
        row = {
            k: int(counters.get(f"{NAMESPACE}/round{r}_{k}", 0))
            for k in ("sent", "cache_hits", "generated", "tokens_in", "tokens_out")
        }
        row["round"] = r
        row["accepted"] = sum(per_round[r].values())
        round_rows.append(row)
    recovered = sum(fixed.values())
    tokens = sum(row["tokens_in"] + row["tokens_out"] for row in round_rows)
    return {
        "rounds": rounds,
        "feedback_version": FEEDBACK_VERSION,
        "pass_rate": pass_rate,
        "per_round": round_rows,
        "error_kinds": by_kind,
        "recovered_rows": recovered,
        "tokens_spent": tokens,
        "tokens_per_recovered_row": round(tokens / recovered, 1) if recovered else None,
        "generated_from_cache": sum(row["cache_hits"] for row in round_rows),
        "skipped": _by(counters, "skipped_"),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def render_card_section(stats: dict[str, Any]) -> str:
    """The card's "Repair rounds" section (empty when the run had none)."""
    repair = stats.get("repair") or {}
    rounds = repair.get("rounds", 0)
    if not rounds:
        return ""
    header = ["target", "candidates", *(f"after round {r}" for r in range(rounds + 1))]
    rows = [
        [
            t,
            v["candidates"],
            *(f"{_pct(rate)} ({n})" for rate, n in zip(v["rate"], v["accepted"], strict=True)),
        ]
        for t, v in repair["pass_rate"].items()
    ]
    lines = [
        "## Repair rounds\n",
        f"Translations rejected at the parse check or at execution ({', '.join(f'`{r}`' for r in REPAIRABLE)}) went "
        f"back to the same model up to {rounds} time(s), as a continued conversation: its reply and a feedback turn "
        "with the parser's or compiler's message, or the documented examples that failed with what came back "
        f"(feedback template `{repair.get('feedback_version')}`). Generated test cases were held out: never shown, "
        "always run. Each row's `repair_round` says which round produced it.\n",
        "Pass rate (accepted at execution) per target language after each round:\n",
        _table(header, rows),
        "",
    ]
    kinds = repair.get("error_kinds") or {}
    if kinds:
        lines += [
            "First attempt's rejection reason and what the repairs made of it:\n",
            _table(
                ["first rejection", "sent to repair", "fixed", "not fixed"],
                [[k, v["first"], v["fixed"], v["not_fixed"]] for k, v in kinds.items()],
            ),
            "",
        ]
    per_token = repair.get("tokens_per_recovered_row")
    cached = repair.get("generated_from_cache", 0)
    lines.append(
        f"Repairs recovered {repair.get('recovered_rows', 0)} row(s) for {repair.get('tokens_spent', 0)} tokens"
        + (f" ({per_token} tokens per recovered row)" if per_token is not None else "")
        + (
            f"; {cached} repair replies came from the translation cache, their tokens were spent by an earlier run"
            if cached
            else ""
        )
        + ".\n"
    )
    return "\n".join(lines)


def summary_line(stats: dict[str, Any]) -> str | None:
    """One line for the end-of-run summary: the overall pass rate after each round."""
    repair = stats.get("repair") or {}
    if not repair.get("rounds"):
        return None
    overall = repair["pass_rate"].get("all", {})
    rates = " -> ".join(_pct(r) for r in overall.get("rate", []))
    return (
        f"repair: pass rate after rounds 0..{repair['rounds']}: {rates}; recovered {repair['recovered_rows']} "
        f"row(s), {repair['tokens_per_recovered_row'] or '-'} tokens per recovered row"
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


__all__ = [
    "CONVERSATIONAL",
    "RepairConfig",
    "RepairLoop",
    "render_card_section",
    "repair_request",
    "repair_stats",
    "summary_line",
]
