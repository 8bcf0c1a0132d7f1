"""C++ batches precompile the system headers their programs open with (``agent.pch_plan``):
the longest opening run of ``#include <...>`` lines that every program opening with the same
header shares, so each program sees exactly its own opening lines and compiles as alone."""

from __future__ import annotations

import pytest

from sandboxes import Program, SandboxUnavailable, open_sandbox
from sandboxes.agent import pch_plan
from tests.support import missing

PRELUDE = "#include <iostream>\n#include <map>\n#include <string>\n"


def test_the_plan_takes_the_run_every_program_with_that_first_header_shares():
    sources = [
        PRELUDE + "#include <vector>  // NOLINT\nint main() {}\n",
        PRELUDE + "int main() {}\n",
        PRELUDE + "#include <set>\nint main() {}\n",
        "#include <cassert>\nint main() {}\n",
        "#include <cassert>\n#include <cmath>\nint main() {}\n",
        "#include <vector>\nint main() {}\n",  # used once: no PCH
    ]
    assert pch_plan(sources) == [
        ("iostream", ["iostream", "map", "string"], 3),
        ("cassert", ["cassert"], 2),
    ]


def test_a_shorter_run_keeps_the_pch_to_what_it_opens_with():
    # the second program does not include <map>: a PCH holding <map> would let it compile
    sources = [
        PRELUDE + "int main() {}\n",
        "#include <iostream>\nint main() { std::map<int, int> m; }\n",
    ]
    assert pch_plan(sources) == [("iostream", ["iostream"], 2)]


def test_a_program_that_does_not_open_with_includes_gives_only_its_first_header():
    sources = [
        "// a comment first\n#include <vector>\n#include <map>\nint main() {}\n",
        "#include <vector>\n#include <map>\nint main() {}\n",
    ]
    assert pch_plan(sources) == [("vector", ["vector"], 2)]
    assert pch_plan(['#include "mine.h"\nint main() {}\n'] * 2) == []  # not a system header


PROGRAMS = [
    # ok, uses every header of the shared opening
    PRELUDE
    + 'int main() { std::map<std::string, int> m{{"a", 1}}; std::cout << m["a"] << "\\n"; }\n',
    # ok, opens with the same run and one more header
    PRELUDE
    + '#include <vector>\nint main() { std::vector<int> v{1, 2}; std::cout << v.size() << "\\n"; }\n',
    # compile error alone: opens with <iostream> only and uses std::map
    "#include <iostream>\nint main() { std::map<int, int> m; std::cout << m.size(); }\n",
    # compile error in its own code
    PRELUDE + "int main() { undeclared(); }\n",
    # ok: includes its first header again further down, as translations under the C++
    # harness's opening headers do (GCC finds that header's PCH, cannot use it a second time)
    PRELUDE + '#include <iostream>\nint main() { std::cout << 7 << "\\n"; }\n',
]


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_batch_verdicts_equal_alone_verdicts(backend):
    try:
        batched = open_sandbox(backend, batch_size=8)
        alone = open_sandbox(backend, batch_size=1)
    except SandboxUnavailable as exc:
        missing(backend, f"the {backend} sandbox backend cannot run here: {exc}")
    try:
        programs = [Program("cpp", src) for src in PROGRAMS]
        got = batched.run_batch(programs)
        want = alone.run_batch(programs)
    finally:
        batched.close()
        alone.close()
    assert [r.status.value for r in want] == ["ok", "ok", "compile_error", "compile_error", "ok"]
    assert [(r.status, r.stdout) for r in got] == [(r.status, r.stdout) for r in want]
    assert "map" in got[2].stderr  # its own diagnostics
