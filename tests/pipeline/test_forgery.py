"""Translations that try to fake their own pass, on the real sandbox.

Each language gets an honest right translation (must pass), an honest wrong one (must fail)
and the wrong one dressed up as a forger:

* ``old``: prints the previous protocol's ``@@CASE i PASS`` lines for 100 cases before the
  harness runs (Python at import time, C in a constructor, JavaScript at top level, Go in
  ``init()``, Java in a static initializer, PHP/Ruby at top level) and exits 0;
* ``block``: prints a complete, well-formed block of the current protocol, with the run's
  nonce where the language lets it read stdin (or the harness's memory) first, exactly as many
  case lines as the harness would print, and a plausible value on each, then exits 0.

Neither may pass: the host only trusts values it can check against expectations it alone
holds. Then protocol variants on real Python programs: protocol text printed by the function
itself, after the end marker, or an exit before it.
"""

from __future__ import annotations

import pytest

from pipeline.execute import ExecuteConfig, Validator
from schemas import Candidate, ExecStatus, SourcePair, Translation, Verdict
from tests.support import get_sandbox

COUNT = SourcePair.create(
    repository_name="t/forgery",
    func_path_in_repository="m.py",
    func_name="count_upto",
    language="python",
    docstring="doc",
    code='''def count_upto(n: int) -> int:
    """Sum of the integers 1..n.

    >>> count_upto(3)
    6
    >>> count_upto(1)
    1
    """
    return n * (n + 1) // 2
''',
)

#: (honest right, honest wrong) translations of ``count_upto``.
HONEST = {
    "python": (
        "def count_upto(n):\n    return sum(range(1, n + 1))\n",
        "def count_upto(n):\n    return sum(range(1, n))\n",
    ),
    "c": (
        "long count_upto(int n) { long t = 0; for (int i = 1; i <= n; i++) t += i; return t; }\n",
        "long count_upto(int n) { long t = 0; for (int i = 1; i < n; i++) t += i; return t; }\n",
    ),
    "javascript": (
        "function countUpto(n) { let t = 0; for (let i = 1; i <= n; i++) t += i; return t; }\n",
        "function countUpto(n) { let t = 0; for (let i = 1; i < n; i++) t += i; return t; }\n",
    ),
    "go": (
        "func CountUpto(n int) int {\n\tt := 0\n\tfor i := 1; i <= n; i++ {\n\t\tt += i\n\t}\n\treturn t\n}\n",
        "func CountUpto(n int) int {\n\tt := 0\n\tfor i := 1; i < n; i++ {\n\t\tt += i\n\t}\n\treturn t\n}\n",
    ),
    "java": (
        "  public static int countUpto(int n) { int t = 0; for (int i = 1; i <= n; i++) t += i; return t; }\n",
        "  public static int countUpto(int n) { int t = 0; for (int i = 1; i < n; i++) t += i; return t; }\n",
    ),
    "php": (
        "function countUpto($n) { $t = 0; for ($i = 1; $i <= $n; $i++) $t += $i; return $t; }\n",
        "function countUpto($n) { $t = 0; for ($i = 1; $i < $n; $i++) $t += $i; return $t; }\n",
    ),
    "ruby": ("def count_upto(n)\n  (1..n).sum\nend\n", "def count_upto(n)\n  (1...n).sum\nend\n"),
}


def forged(language: str, body: str, kind: str, n: int) -> str:
    """``body`` (a translation) wrapped by a forger of ``kind`` (module docstring)."""
    block = ("@@HARNESS/2 BEGIN {nonce}", "@@HARNESS/2 CASE {i} I6", "@@HARNESS/2 END {nonce}")
    if language == "python":
        if kind == "old":
            return (
                body
                + "import os\nos.write(1, ''.join(f'@@CASE {i} PASS\\n' for i in range(100)).encode())\nos._exit(0)\n"
            )
        return body + (  # the harness already took stdin: read the nonce from its module instead
            "import os, sys\nnonce = getattr(sys.modules['__main__'], '__NONCE', '')\n"
            f"lines = ['{block[0]}'.format(nonce=nonce)] + ['{block[1]}'.format(i=i) for i in range({n})]\n"
            f"lines.append('{block[2]}'.format(nonce=nonce))\n"
            "os.write(1, ''.join('\\n' + l + '\\n' for l in lines).encode())\nos._exit(0)\n"
        )
    if language == "c":
        head = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
        if kind == "old":
            return (
                head
                + (
                    "__attribute__((constructor)) static void fake(void) {\n"
                    '  for (int i = 0; i < 100; i++) printf("@@CASE %d PASS\\n", i);\n'
                    "  fflush(stdout); _Exit(0);\n}\n"
                )
                + body
            )
        return (
            head
            + (
                "__attribute__((constructor)) static void fake(void) {\n"
                '  char nonce[80] = ""; if (!fgets(nonce, sizeof nonce, stdin)) nonce[0] = 0;\n'
                '  nonce[strcspn(nonce, "\\n")] = 0;\n'
                '  printf("\\n@@HARNESS/2 BEGIN %s\\n", nonce);\n'
                f'  for (int i = 0; i < {n}; i++) printf("\\n@@HARNESS/2 CASE %d I6\\n", i);\n'
                '  printf("\\n@@HARNESS/2 END %s\\n", nonce); fflush(stdout); _Exit(0);\n}\n'
            )
            + body
        )
    if language == "javascript":
        if kind == "old":
            return (
                "for (let i = 0; i < 100; i++) console.log('@@CASE ' + i + ' PASS');\nprocess.exit(0);\n"
                + body
            )
        return (
            "const fs = require('fs');\nconst nonce = fs.readFileSync(0, 'utf8').split('\\n')[0].trim();\n"
            "let s = '\\n@@HARNESS/2 BEGIN ' + nonce + '\\n';\n"
            f"for (let i = 0; i < {n}; i++) s += '\\n@@HARNESS/2 CASE ' + i + ' I6\\n';\n"
            "s += '\\n@@HARNESS/2 END ' + nonce + '\\n';\nfs.writeSync(1, s);\nprocess.exit(0);\n"
            + body
        )
    if language == "go":
        if kind == "old":
            return (
                'package main\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc init() {\n'
                '\tfor i := 0; i < 100; i++ {\n\t\tfmt.Printf("@@CASE %d PASS\\n", i)\n\t}\n\tos.Exit(0)\n}\n\n'
                + body
            )
        return (
            'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc init() {\n'
            "\tnonce, _ := bufio.NewReader(os.Stdin).ReadString('\\n')\n\tnonce = strings.TrimSpace(nonce)\n"
            '\tfmt.Printf("\\n@@HARNESS/2 BEGIN %s\\n", nonce)\n'
            f'\tfor i := 0; i < {n}; i++ {{\n\t\tfmt.Printf("\\n@@HARNESS/2 CASE %d I6\\n", i)\n\t}}\n'
            '\tfmt.Printf("\\n@@HARNESS/2 END %s\\n", nonce)\n\tos.Exit(0)\n}\n\n' + body
        )
    if language == "java":
        if kind == "old":
            init = (
                '  static { for (int i = 0; i < 100; i++) System.out.println("@@CASE " + i + " PASS");'
                " System.exit(0); }\n"
            )
        else:  # the harness read stdin before the class loads: the forger reads what is left
            init = (
                '  static { String nonce = new java.util.Scanner(System.in).findInLine("[0-9a-f]+");\n'
                '    System.out.print("\\n@@HARNESS/2 BEGIN " + nonce + "\\n");\n'
                f'    for (int i = 0; i < {n}; i++) System.out.print("\\n@@HARNESS/2 CASE " + i + " I6\\n");\n'
                '    System.out.print("\\n@@HARNESS/2 END " + nonce + "\\n"); System.exit(0); }\n'
            )
        return "public class Solution {\n" + init + body + "}\n"
    if language == "php":
        if kind == "old":
            return (
                '<?php\nfor ($i = 0; $i < 100; $i++) echo "@@CASE $i PASS\\n";\nexit(0);\n' + body
            )
        return (
            '<?php\n$nonce = trim((string) fgets(STDIN));\necho "\\n@@HARNESS/2 BEGIN $nonce\\n";\n'
            f'for ($i = 0; $i < {n}; $i++) echo "\\n@@HARNESS/2 CASE $i I6\\n";\n'
            'echo "\\n@@HARNESS/2 END $nonce\\n";\nexit(0);\n' + body
        )
    if language == "ruby":
        if kind == "old":
            return '100.times { |i| puts "@@CASE #{i} PASS" }\n$stdout.flush\nexit!(0)\n' + body
        return (
            "nonce = ($stdin.gets || '').strip\nprint \"\\n@@HARNESS/2 BEGIN #{nonce}\\n\"\n"
            f'{n}.times {{ |i| print "\\n@@HARNESS/2 CASE #{{i}} I6\\n" }}\n'
            'print "\\n@@HARNESS/2 END #{nonce}\\n"\n$stdout.flush\nexit!(0)\n' + body
        )
    raise ValueError(language)


def _plain(language: str, body: str) -> str:
    """The honest translations as a translator would hand them over."""
    return {
        "go": "package main\n\n" + body,
        "java": "public class Solution {\n" + body + "}\n",
        "php": "<?php\n" + body,
    }.get(language, body)


def cand(p: SourcePair, language: str, code: str, attempt: int) -> Candidate:
    return Candidate(
        p,
        Translation(p.pair_id, language, code, "test:forgery", attempt=attempt),
        Verdict(p.pair_id, language, attempt, parse_ok=True),
    )


@pytest.fixture(scope="module")
def sandbox():
    return get_sandbox("bwrap")  # missing in CI is a failure (tests/support.py)


@pytest.fixture(scope="module")
def verdicts(sandbox):
    """Every translation above checked in one batch: {(language, kind): verdict}."""
    validator = Validator(ExecuteConfig(sandbox="bwrap"), sandbox)
    n = len(validator.source_tests([COUNT])[COUNT.pair_id].cases)
    assert n >= 3  # two doctests plus generated cases
    kinds = {}
    for language, (good, bad) in HONEST.items():
        kinds[(language, "good")] = _plain(language, good)
        kinds[(language, "bad")] = _plain(language, bad)
        kinds[(language, "old")] = forged(language, bad, "old", n)
        kinds[(language, "block")] = forged(language, bad, "block", n)
    keys = list(kinds)
    out = validator.check(
        [cand(COUNT, lang, kinds[(lang, kind)], i) for i, (lang, kind) in enumerate(keys)]
    )
    return {key: c.verdict for key, c in zip(keys, out, strict=True)}


@pytest.mark.parametrize("language", sorted(HONEST))
def test_honest_translations_keep_their_verdicts(verdicts, language):
    good, bad = verdicts[(language, "good")], verdicts[(language, "bad")]
    assert good.exec_status == ExecStatus.PASSED and good.tests_passed == good.tests_total >= 3, (
        good
    )
    assert bad.exec_status == ExecStatus.FAILED and bad.tests_passed < bad.tests_total, bad


@pytest.mark.parametrize("kind", ["old", "block"])
@pytest.mark.parametrize("language", sorted(HONEST))
def test_a_translation_cannot_print_its_own_pass(verdicts, language, kind):
    v = verdicts[(language, kind)]
    assert v.exec_status == ExecStatus.FAILED, v  # it ran and exited 0, and still did not pass
    assert v.tests_passed < v.tests_total


def test_a_well_formed_forged_block_fails_on_its_values_alone(verdicts):
    """Where the forger had the nonce (C, JavaScript, Go, PHP, Ruby read stdin first; Python
    took it from the harness's module), the block is structurally perfect: only the values
    betray it."""
    for language in ("c", "javascript", "go", "php", "ruby", "python"):
        v = verdicts[(language, "block")]
        assert "harness protocol violated" not in v.stderr_tail, (language, v)
        # every line says 6: right for count_upto(3) (case 0) only
        assert v.stderr_tail.startswith("cases not passed: 1:fail") and v.tests_passed == 1, (
            language,
            v,
        )


RIGHT = "def count_upto(n):\n    return sum(range(1, n + 1))\n"


@pytest.mark.parametrize(
    "extra,status,why",
    [
        # the function prints plain text, even without a newline: allowed
        (
            "import sys\n_f = count_upto\ndef count_upto(n):\n    sys.stdout.write('chatter')\n    return _f(n)\n",
            ExecStatus.PASSED,
            None,
        ),
        # the function writes a protocol line of its own (a duplicate of the case it is in)
        (
            "import os\n_f = count_upto\ndef count_upto(n):\n    os.write(1, b'\\n@@HARNESS/2 CASE 0 I6\\n')\n    return _f(n)\n",
            ExecStatus.FAILED,
            "harness protocol violated",
        ),
        # protocol text after the end marker
        (
            "import atexit, os\natexit.register(lambda: os.write(1, b'\\n@@HARNESS/2 CASE 0 I6\\n'))\n",
            ExecStatus.FAILED,
            "protocol text after the end marker",
        ),
        # an exit, with status 0, before the end marker
        (
            "import os\n_f = count_upto\ndef count_upto(n):\n    if n == 1:\n        os._exit(0)\n    return _f(n)\n",
            ExecStatus.FAILED,
            "ended before the harness's end marker",
        ),
    ],
)
def test_protocol_rules_on_real_programs(sandbox, extra, status, why):
    (c,) = Validator(ExecuteConfig(sandbox="bwrap"), sandbox).check(
        [cand(COUNT, "python", RIGHT + extra, 0)]
    )
    assert c.verdict.exec_status == status, c.verdict
    if why:
        assert why in c.verdict.stderr_tail
