"""The per-language harnesses as pure functions: the program text they render.

What the rendered programs print, and how the host judges it, is tested on the real sandbox
in ``test_execute.py`` and ``test_forgery.py``; the host's reading rules in
``test_protocol.py``.
"""

from __future__ import annotations

import pytest

import languages
from pipeline.harness import (
    HARNESSES,
    Case,
    HarnessRequest,
    Unrenderable,
    harness_for,
)
from pipeline.harness.base import name_variants, pick_function
from pipeline.harness.pytypes import FLOAT, INT, STR, PyType, from_annotation, infer, signature_of

SUM_SRC = "from typing import List\n\ndef sum_list(xs: List[int], k: int) -> int:\n    return sum(xs) * k\n"
SUM_SIG = signature_of(SUM_SRC, "sum_list")
SUM_CASES = (Case(([1, 2, 3], 2), 12), Case(([], 5), 0))


def req(code: str, cases=SUM_CASES, sig=SUM_SIG, name="sum_list") -> HarnessRequest:
    return HarnessRequest(code=code, func_name=name, signature=sig, cases=cases)


def test_every_target_language_has_a_harness():
    assert set(HARNESSES) == set(languages.REGISTRY)
    assert all(module.LANGUAGE == name for name, module in HARNESSES.items())
    assert harness_for("C++") is HARNESSES["cpp"] and harness_for("js") is HARNESSES["javascript"]
    assert harness_for("ts") is HARNESSES["typescript"]
    with pytest.raises(ValueError, match="no test harness"):
        harness_for("cobol")


def test_signature_types_from_hints():
    import ast

    sig = signature_of(
        "from typing import *\ndef f(a: int, b: List[str], c: Optional[Dict[str, float]] = None,"
        " d: 'Tuple[int, str]' = (1, 'x'), e=3) -> list[int]: pass",
        "f",
    )
    assert sig.params == ("a", "b", "c", "d", "e")
    assert [str(t) for t in sig.param_types] == [
        "int",
        "list[str]",
        "optional[dict[str, float]]",
        "tuple[int, str]",
        "any",
    ]
    assert str(sig.returns) == "list[int]"
    assert sig.defaults == (None, (1, "x"), 3)
    assert from_annotation(ast.parse("int | None", mode="eval").body) == PyType("optional", (INT,))
    assert infer([1, 2.5]) == PyType("list", (FLOAT,))
    assert infer({"a": [1]}) == PyType("dict", (STR, PyType("list", (INT,))))
    refined = signature_of("def g(x, y: list): pass", "g").refined([((1, ["a"]), None)])
    assert [str(t) for t in refined.param_types] == ["int", "list[str]"]


def test_translator_naming_conventions_are_found():
    assert name_variants("sum_list") == ["sum_list", "sumList", "SumList"]
    assert pick_function(["helper", "SumList"], "sum_list") == "SumList"
    assert pick_function(["main", "only_one"], "whatever") == "only_one"
    assert pick_function(["a", "SUM_LIST"], "sum_list") == "SUM_LIST"
    with pytest.raises(Unrenderable, match="not found"):
        pick_function(["a", "b"], "sum_list")


def test_cpp_declares_arguments_with_the_translations_own_types():
    src = HARNESSES["cpp"].render(
        req("inline int sum_list(std::vector<int>& xs, int k) { return 0; }")
    )
    assert "using F = __h::ft<decltype(&sum_list)>;" in src
    assert (
        "F::arg<0> a0{1, 2, 3}; F::arg<1> a1{2}; return __h::value((sum_list(a0, a1), __h::VoidTag{}));"
        in src
    )
    assert "#include <vector>" in src and "__h::run_case(1, []() -> std::string {" in src


def test_java_literals_follow_the_declared_parameter_types():
    code = "import java.util.*;\npublic class Solution {\n  public static long sumList(List<Integer> xs, long k) { return 0; }\n}\n"
    src = HARNESSES["java"].render(req(code))
    assert "new ArrayList<Integer>(Arrays.<Integer>asList(1, 2, 3)), 2L" in src
    assert "Solution.sumList(" in src and "\nclass Solution" in src and "public class Main" in src
    bare = HARNESSES["java"].render(req("public int sumList(int[] xs, int k) { return 0; }"))
    assert "new Main().sumList(new int[]{1, 2, 3}, 2)" in bare


def test_go_and_rust_literals_follow_the_declared_types():
    go = HARNESSES["go"].render(
        req("package main\n\nfunc SumList(xs []int64, k int) (int, error) { return 0, nil }\n")
    )
    assert (
        "SumList([]int64{1, 2, 3}, 2)" in go
        and 'if r1 != nil { return __raised("error") }; return __value(r0)' in go
    )
    only_err = HARNESSES["go"].render(
        req("package main\n\nfunc SumList(xs []int, k int) error { return nil }\n")
    )
    assert (
        'r0 := SumList([]int{1, 2, 3}, 2); if r0 != nil { return __raised("error") }; return "N"'
        in only_err
    )
    rust = HARNESSES["rust"].render(req("pub fn sum_list(xs: &Vec<i32>, k: i32) -> i64 { 0 }"))
    assert "let r = sum_list(&vec![1i32, 2i32, 3i32], 2i32); h_value(&r)" in rust
    rust_str = HARNESSES["rust"].render(
        req(
            "fn wrap(s: &str) -> String { s.to_string() }",
            cases=(Case(('a"b',), '[a"b]'),),
            sig=signature_of("def wrap(s: str) -> str: pass", "wrap"),
            name="wrap",
        )
    )
    assert 'wrap("a\\"b")' in rust_str


def test_c_passes_flat_lists_as_array_and_length():
    src = HARNESSES["c"].render(req("long sum_list(const int *xs, int n, int k) { return 0; }"))
    assert "sum_list((int[]){1, 2, 3}, 3, 2)" in src and "sum_list((int[]){0}, 0, 5)" in src


def test_dynamic_languages_render_python_values():
    cases = (Case(({"a": [1, None]}, True, 1.5), "x'y"),)
    sig = signature_of("def f(d, b, x): pass", "f")
    js = HARNESSES["javascript"].render(req("export function f(d, b, x) {}", cases, sig, "f"))
    assert 'f({"a": [1, null]}, true, 1.5)' in js and "export" not in js
    php = HARNESSES["php"].render(req("<?php\nfunction f($d, $b, $x) {}\n?>", cases, sig, "f"))
    assert "f(['a' => [1, null]], true, 1.5)" in php and php.count("<?php") == 1
    rb = HARNESSES["ruby"].render(req("def f(d, b, x)\nend", cases, sig, "f"))
    assert "f({'a' => [1, nil]}, true, 1.5)" in rb


def test_typescript_values_take_the_shape_of_the_declared_parameter_types():
    sig = signature_of("def f(d, e, s, n, t): pass", "f")
    cases = (Case(({"a": [1, None]}, {"k": 2}, {3, 1}, 2**60, (1, "x")), None),)
    code = (
        "export function f<T>(d: Record<string, (number | null)[]>, e: Map<string, number>,\n"
        "  s: ReadonlySet<number>, n: bigint, t: [number, string]): void {}"
    )
    src = HARNESSES["typescript"].render(req(code, cases, sig, "f"))
    call = (
        '(f as any)({"a": [1, null]}, new Map<any, any>([["k", 2]]), new Set([1, 3]), '
        '1152921504606846976n, [1, "x"])'
    )
    assert call in src
    assert src.rstrip().endswith("export {};")  # a module: its names cannot clash with globals
    arrow = HARNESSES["typescript"].render(
        req("const sumList = (xs: number[], k: number): number => 0;\n")
    )
    assert "(sumList as any)([1, 2, 3], 2)" in arrow


def test_unrenderable_cases_are_reported_not_guessed():
    sig = signature_of(
        "from typing import Dict\ndef total(d: Dict[str, int]) -> int: pass", "total"
    )
    with pytest.raises(Unrenderable, match="dict in c"):
        HARNESSES["c"].render(
            req("int total(int *d) { return 0; }", (Case(({"a": 1},), 1),), sig, "total")
        )
    with pytest.raises(Unrenderable, match="takes 2 parameters"):
        HARNESSES["c"].render(
            req("int sum_list(int *xs, int k) { return 0; }")
        )  # no length parameter
    with pytest.raises(Unrenderable, match="list in c"):  # list results have no C convention
        HARNESSES["c"].render(
            req(
                "int *f(int n) { return 0; }",
                (Case((1,), [1]),),
                signature_of("def f(n): pass", "f"),
                "f",
            )
        )
    with pytest.raises(Unrenderable, match="parameter type Foo in java"):
        HARNESSES["java"].render(req("class S { static int sumList(Foo xs, int k) { return 0; } }"))
    with pytest.raises(Unrenderable, match="takes 1 parameters"):
        HARNESSES["go"].render(req("package main\nfunc SumList(xs []int) int { return 0 }"))


def test_library_units_have_a_trivial_main_where_needed():
    assert "int main() { return 0; }" in HARNESSES["cpp"].library_unit("int f() { return 1; }")
    assert "func main() {}" in HARNESSES["go"].library_unit(
        "package foo\nfunc F() int { return 1 }"
    )
    assert "public class Main" in HARNESSES["java"].library_unit("public class Solution { }")
    assert HARNESSES["rust"].library_unit("fn main() {}\n").count("fn main") == 1


def test_cpp_templates_take_the_python_types_and_rust_lifetimes_are_dropped():
    sig = signature_of(
        "from typing import Tuple\ndef dist(p: Tuple[int, int], q: Tuple[int, int]) -> int: pass",
        "dist",
    )
    src = HARNESSES["cpp"].render(
        req(
            "inline int dist(auto& p, auto& q) { return 0; }",
            (Case(((1, 2), (4, 6)), 7),),
            sig,
            "dist",
        )
    )
    assert (
        "std::vector<long long> a0{1, 2}; std::vector<long long> a1{4, 6}; return __h::value((dist(a0, a1),"
        in src
    )
    assert "decltype(&dist)" not in src
    sig = signature_of("from typing import Dict\ndef wf(t: str) -> Dict[str, int]: pass", "wf")
    rust = HARNESSES["rust"].render(
        req(
            "pub fn wf<'a>(t: &'a str) -> HashMap<&'a str, i32> { HashMap::new() }",
            (Case(("a b a",), {"a": 2, "b": 1}),),
            sig,
            "wf",
        )
    )
    assert 'let r = wf("a b a"); h_value(&r)' in rust


# Programs for the expected-value test: one per language, each taking one int and one str.
_SENTINEL_CODE = {
    "python": "def f(n, s):\n    return s\n",
    "javascript": "function f(n, s) { return s; }",
    "ruby": "def f(n, s)\n  s\nend\n",
    "php": "<?php\nfunction f($n, $s) { return $s; }",
    "go": "package main\n\nfunc F(n int, s string) string { return s }\n",
    "rust": "fn f(n: i64, s: &str) -> String { s.to_string() }",
    "java": "public class S { public static String f(int n, String s) { return s; } }",
    "cpp": "#include <string>\nstd::string f(int n, std::string s) { return s; }",
    "c": "const char *f(int n, const char *s) { return s; }",
    "typescript": "function f(n: number, s: string): string { return s; }",
}


def test_every_language_has_a_sentinel_program():
    assert set(_SENTINEL_CODE) == set(languages.REGISTRY)


@pytest.mark.parametrize("language", sorted(_SENTINEL_CODE))
def test_expected_values_never_enter_the_program(language):
    """The host alone holds expected values: none of them is written into a harness."""
    sig = signature_of("def f(n: int, s: str) -> str: pass", "f")
    cases = (Case((31, "in-arg"), "zq-expected-qz"), Case((47, "other"), "qx-wanted-xq"))
    src = HARNESSES[language].render(HarnessRequest(_SENTINEL_CODE[language], "f", sig, cases))
    assert "31" in src and "in-arg" in src and "47" in src  # the arguments are there ...
    for text in ("zq-expected-qz", "qx-wanted-xq", b"zq-expected-qz".hex()):
        assert text not in src  # ... the expected values are not, in any spelling
    assert "@@HARNESS/2" in src and "@@CASE" not in src
