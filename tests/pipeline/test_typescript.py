"""TypeScript, the language added through the registry alone, end to end.

Hand-written correct and subtly wrong TypeScript translations judged on both sandbox backends;
documented TypeScript functions mined from a repository (``repo:``); and a whole pipeline run
whose translations come from an OpenAI-compatible endpoint answering in TypeScript (py2many
cannot translate into TypeScript, model backends can), on both backends.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline.execute import ExecuteConfig, Validator
from pipeline.parse_check import ParseChecker
from pipeline.sources import SourceStats, read_source
from pipeline.translate import extract_code, render_messages
from schemas import Candidate, ExecStatus, SourcePair, Translation, Verdict
from tests.pipeline.test_translate_openai import _ScriptedEndpoint, completion
from tests.support import BACKENDS, get_sandbox


def pair(name: str, code: str) -> SourcePair:
    return SourcePair.create(
        repository_name="t/repo",
        func_path_in_repository="m.py",
        func_name=name,
        language="python",
        code=code,
        docstring="doc",
    )


def cand(p: SourcePair, code: str, attempt: int) -> Candidate:
    return Candidate(
        p,
        Translation(p.pair_id, "typescript", code, "test:hand", attempt=attempt),
        Verdict(p.pair_id, "typescript", attempt, parse_ok=True),
    )


COUNT = pair(
    "count_upto",
    '''def count_upto(n: int) -> int:
    """Sum of the integers 1..n.

    >>> count_upto(3)
    6
    >>> count_upto(1)
    1
    """
    return n * (n + 1) // 2
''',
)
HALF = pair(
    "half",
    '''def half(n: int) -> float:
    """Half of n.

    >>> half(5)
    2.5
    >>> half(4)
    2.0
    """
    return n / 2
''',
)
WRAP = pair(
    "wrap",
    '''def wrap(s: str) -> str:
    """Strip s and put it in brackets.

    >>> wrap("  hi ")
    '[hi]'
    >>> wrap("a b")
    '[a b]'
    """
    return "[" + s.strip() + "]"
''',
)
COUNTS = pair(
    "word_counts",
    '''from typing import Dict


def word_counts(text: str, stop: Dict[str, int]) -> Dict[str, int]:
    """How often each word of text occurs, leaving out the words of stop.

    >>> word_counts("a b a", {"b": 1})
    {'a': 2}
    >>> word_counts("x  y x", {})
    {'x': 2, 'y': 1}
    """
    out: Dict[str, int] = {}
    for w in text.split():
        if w not in stop:
            out[w] = out.get(w, 0) + 1
    return out
''',
)

# (pair, correct translation, subtly wrong translation)
TRANSLATIONS = [
    (
        COUNT,
        "function countUpto(n: number): number {\n  let t = 0;\n  for (let i = 1; i <= n; i++) t += i;\n  return t;\n}\n",
        "function countUpto(n: number): number {\n  let t = 0;\n  for (let i = 1; i < n; i++) t += i;\n  return t;\n}\n",
    ),
    (
        HALF,
        "export function half(n: number): number {\n  return n / 2;\n}\n",
        "export function half(n: number): number {\n  return Math.floor(n / 2);\n}\n",
    ),
    (
        WRAP,
        "const wrap = (s: string): string => `[${s.trim()}]`;\n",
        "const wrap = (s: string): string => `[${s.trimStart()}]`;\n",
    ),
    # a Map parameter gets a Map; splitting on " " keeps the empty word of "x  y x"
    (
        COUNTS,
        "function wordCounts(text: string, stop: Map<string, number>): Map<string, number> {\n"
        "  const out = new Map<string, number>();\n"
        "  for (const w of text.split(/\\s+/).filter((x) => x.length > 0)) {\n"
        "    if (!stop.has(w)) out.set(w, (out.get(w) ?? 0) + 1);\n  }\n  return out;\n}\n",
        "function wordCounts(text: string, stop: Map<string, number>): Map<string, number> {\n"
        "  const out = new Map<string, number>();\n"
        "  for (const w of text.split(' ')) {\n"
        "    if (!stop.has(w)) out.set(w, (out.get(w) ?? 0) + 1);\n  }\n  return out;\n}\n",
    ),
]
# Valid JavaScript, but not TypeScript under --strict: a compile error, not a pass.
UNTYPED = "function countUpto(n) {\n  return n * (n + 1) / 2;\n}\n"


@pytest.fixture(
    scope="module", params=[pytest.param(b, marks=getattr(pytest.mark, b)) for b in BACKENDS]
)
def checked(request):
    """Every translation above checked once per backend, in one batch."""
    validator = Validator(ExecuteConfig(sandbox=request.param), get_sandbox(request.param))
    cands = [c for p, good, bad in TRANSLATIONS for c in (cand(p, good, 0), cand(p, bad, 1))]
    cands.append(cand(COUNT, UNTYPED, 2))
    out = validator.check(cands)
    return {(c.pair.func_name, c.translation.attempt): c.verdict for c in out}


@pytest.mark.parametrize(
    "p", [t[0] for t in TRANSLATIONS], ids=[t[0].func_name for t in TRANSLATIONS]
)
def test_correct_translation_passes_and_subtly_wrong_one_fails(checked, p):
    good, bad = checked[(p.func_name, 0)], checked[(p.func_name, 1)]
    assert good.exec_status == ExecStatus.PASSED, good
    assert good.tests_total >= 2 and good.tests_passed == good.tests_total
    assert bad.exec_status == ExecStatus.FAILED, bad
    assert 0 <= bad.tests_passed < bad.tests_total == good.tests_total
    assert "cases not passed" in bad.stderr_tail


def test_an_untyped_translation_is_a_compile_error_with_tscs_message(checked):
    verdict = checked[("count_upto", 2)]
    assert verdict.exec_status == ExecStatus.COMPILE_ERROR
    assert "error TS7006" in verdict.stderr_tail  # Parameter 'n' implicitly has an 'any' type


def test_parse_check_prompt_and_reply_extraction():
    checker = ParseChecker(("typescript",))
    assert checker.check("typescript", TRANSLATIONS[3][1]) == (True, None)
    assert checker.check(
        "typescript", "public static twice(x: number): number {\n  return 2 * x;\n}\n"
    ) == (True, None)
    ok, error = checker.check("typescript", "function f(x: number): number {\n  return x +;\n}\n")
    assert not ok and error.startswith("2:")

    user = render_messages(COUNT, "typescript")[1]["content"]
    assert "into TypeScript" in user and "tagged `typescript`" in user and "tsc --strict" in user
    assert "Infer precise static types" in user  # python -> a statically typed target

    reply = (
        "Here is the translation:\n```ts\nfunction countUpto(n: number): number {\n  return n;\n}\n```\n"
        "And in plain JavaScript:\n```js\nfunction countUpto(n) { return n; }\n```\n"
    )
    got = extract_code(reply, "typescript", function_name="count_upto")
    assert got.code.startswith("function countUpto(n: number)")  # the ts block, not the js one
    # a typescript block answering for JavaScript is the dialect, as before TypeScript existed
    js = extract_code(
        "```typescript\nfunction countUpto(n: number) { return n; }\n```", "javascript"
    )
    assert js.code is not None and js.how == "only_block"


TSDOC_REPO = {
    "src/strings.ts": """/**
 * Repeats a word n times, separated by single spaces.
 * @param word the word
 */
export function repeatWord(word: string, n: number): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(word);
  return parts.join(" ");
}

function undocumented(a: number): number {
  const b = a * 2;
  return b;
}

/** Clamps a value into the closed range lo..hi. */
export const clamp = (x: number, lo: number, hi: number): number => {
  const low = Math.max(x, lo);
  return Math.min(low, hi);
};

/** Short. */
function tiny(): void {}
""",
    "src/shapes.ts": """abstract class Shape {
  /** The area of the shape, in square units. */
  abstract area(): number;
}

export class Square extends Shape {
  constructor(private side: number) {
    super();
  }

  override area(): number {
    const s = this.side;
    return s * s;
  }

  /** Scales the square by a factor and returns the new side. */
  public scale(factor: number): number {
    this.side = this.side * factor;
    return this.side;
  }
}
""",
    "src/strings.test.ts": """/** Tests repeatWord with three copies of a word. */
export function checkRepeat(): boolean {
  const got = "a a a";
  return got.length === 5;
}
""",
}


def test_documented_typescript_functions_are_mined_from_a_repository(tmp_path):
    for rel, text in TSDOC_REPO.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    stats = SourceStats()
    pairs = [r for r in read_source(f"repo:{tmp_path}", None, stats) if isinstance(r, SourcePair)]
    by_name = {p.func_name: p for p in pairs}
    assert set(by_name) == {"repeatWord", "clamp", "Square.scale"}
    assert all(p.language == "typescript" for p in pairs)
    assert by_name["repeatWord"].docstring == "Repeats a word n times, separated by single spaces."
    assert by_name["clamp"].code.startswith("const clamp = (x: number")
    assert by_name["Square.scale"].func_path_in_repository == "src/shapes.ts"
    counts = {k: v for (lang, k), v in stats.by_language.items() if lang == "typescript"}
    assert counts["files_read"] == 2
    assert counts["filtered_no_docstring"] == 2  # undocumented() and the constructor
    assert counts["filtered_override_without_docs"] == 1  # Square.area
    assert counts["filtered_short_docstring"] == 1  # tiny()
    assert stats.files["skipped_test_file"] == 1  # strings.test.ts


# -- a whole run whose model answers in TypeScript ---------------------------------------------

_REPLIES = {
    "count_upto": TRANSLATIONS[0][1],  # correct
    "half": TRANSLATIONS[1][2],  # subtly wrong: floors
    "wrap": UNTYPED.replace("countUpto(n)", "wrap(s)").replace("n * (n + 1) / 2", "s"),  # untyped
}


def _answer(index: int, body: dict) -> tuple:
    user = body["messages"][-1]["content"]
    name = next((n for n in _REPLIES if f"def {n}(" in user), None)
    if name is None:  # the launcher's one-token preflight request
        return 200, completion("ok"), 0, None
    reply = f"Sure! Here is the TypeScript version:\n\n```typescript\n{_REPLIES[name]}```\n"
    return 200, completion(reply), 0, None


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_model_backend_run_translates_into_typescript_and_judges_it(backend, tmp_path):
    from pipeline.run import main

    get_sandbox(backend)  # a missing backend fails (or skips) here, not inside the run
    source = tmp_path / "pairs.jsonl"
    with source.open("w") as f:
        for p in (COUNT, HALF, WRAP):
            f.write(
                json.dumps(
                    {
                        "repo": "t/repo",
                        "path": "m.py",
                        "func_name": p.func_name,
                        "language": "python",
                        "code": p.code,
                        "docstring": "doc",
                        "license": "mit",
                    }
                )
                + "\n"
            )
    server = _ScriptedEndpoint(_answer)
    try:
        out = tmp_path / "out"
        assert (
            main(
                [
                    "--runner=DirectRunner",
                    f"--source=csn:{source}",
                    "--translator=openai",
                    f"--openai_base_url={server.base_url}",
                    "--model=stand-in",
                    "--target_languages=typescript",
                    f"--sandbox={backend}",
                    "--decontaminate=",
                    f"--output={out}",
                ]
            )
            == 0
        )
    finally:
        server.close()
    asked = [
        b["messages"][-1]["content"]
        for b in server.bodies
        if "def " in b["messages"][-1]["content"]
    ]
    assert len(asked) == 3 and all("tagged `typescript`" in text for text in asked)
    released = pq.read_table(out / "data").to_pylist()
    rejected = pq.read_table(out / "rejected").to_pylist()
    assert [(r["func1_CSN"], r["language2"], r["exec_status"], r["func2"]) for r in released] == [
        (COUNT.code, "typescript", "passed", TRANSLATIONS[0][1])
    ]
    assert sorted((r["func_name"], r["stage"], r["reason"]) for r in rejected) == [
        ("half", "execute", "failed"),
        ("wrap", "execute", "compile_error"),
    ]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accounting"]["balanced"] and stats["verdicts"]["typescript"] == {
        "compile_error": 1,
        "failed": 1,
        "passed": 1,
    }
