"""The py2many backend on typed Python functions: outputs that parse, reasons where it fails."""

from __future__ import annotations

import pytest

from pipeline.parse_check import ParseChecker
from pipeline.translate import TranslationFailure, TranslationRequest
from pipeline.translate.py2many import Py2ManyTranslator, postprocess
from schemas import SourcePair, Translation

FUNCTIONS = {
    "add_all": '''def add_all(xs: List[int]) -> int:
    """Sum a list of integers."""
    total = 0
    for x in xs:
        total += x
    return total
''',
    "clamp": '''def clamp(x: int, lo: int, hi: int) -> int:
    """Clamp x into [lo, hi]."""
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
''',
    "fact": '''def fact(n: int) -> int:
    """n factorial."""
    if n <= 1:
        return 1
    return n * fact(n - 1)
''',
}


def _pair(name: str, code: str, language: str = "python") -> SourcePair:
    return SourcePair.create(
        repository_name="octo/algos",
        func_path_in_repository="algos.py",
        func_name=name,
        language=language,
        code=code,
        docstring=name,
    )


@pytest.fixture(scope="module")
def translator():
    return Py2ManyTranslator(max_workers=2)


@pytest.fixture(scope="module")
def checker():
    return ParseChecker()


@pytest.mark.parametrize("target", ["cpp", "go", "rust"])
def test_typed_functions_translate_and_parse(translator, checker, target):
    requests = [TranslationRequest(_pair(n, c), target) for n, c in FUNCTIONS.items()]
    results = translator.translate(requests)
    assert len(results) == len(requests)
    for request, result in zip(requests, results, strict=True):
        assert isinstance(result, Translation), (request.pair.func_name, result)
        assert result.translator.startswith("py2many:") and result.prompt_version == "none"
        assert checker.check(target, result.code) == (True, None), result.code
        assert "fn main" not in result.code and "func main" not in result.code
    by_name = {r.pair.func_name: res.code for r, res in zip(requests, results, strict=True)}
    if target == "cpp":
        assert "#include <vector>" in by_name["add_all"]  # py2many forgets it; we add it
    if target == "go":
        assert "package main" not in by_name["add_all"] and "func AddAll(" in by_name["add_all"]
    if target == "rust":
        assert "anyhow" not in by_name["add_all"] and "#![" not in by_name["add_all"]
        assert by_name["add_all"].startswith("pub fn add_all(")


def test_py2many_errors_are_rejected_with_its_message(translator):
    request = TranslationRequest(
        _pair("rev", "def rev(s: str) -> str:\n    return s[::-1]\n"), "cpp"
    )
    (result,) = translator.translate([request])
    assert isinstance(result, TranslationFailure) and result.reason == "translator_error"
    assert "Advanced Slicing not supported" in result.detail
    row = result.to_rejected()
    assert row.stage == "translate" and row.target_language == "cpp"


def test_other_source_languages_and_targets_are_unsupported(translator):
    js = _pair("add", "function add(a, b) { return a + b; }", language="javascript")
    py = _pair("add", "def add(a: int, b: int) -> int:\n    return a + b\n")
    r1, r2 = translator.translate([TranslationRequest(js, "go"), TranslationRequest(py, "java")])
    assert r1.reason == "unsupported_source_language" and "javascript" in r1.detail
    assert r2.reason == "unsupported_target_language"
    assert not translator.supports("javascript", "go") and translator.supports("python", "rust")


def test_indented_methods_are_dedented(translator):
    code = "    def double(x: int) -> int:\n        return 2 * x\n"
    (result,) = translator.translate([TranslationRequest(_pair("double", code), "rust")])
    assert isinstance(result, Translation) and "pub fn double(x: i32) -> i32" in result.code


def test_postprocess_strips_generated_main_and_unused_imports():
    go = 'package main\n\nimport (\n\t"fmt"\n\t"math"\n)\n\nfunc Sq(x float64) float64 {\n\treturn math.Pow(x, 2)\n}\n\nfunc main() {\n\tfmt.Println(Sq(2))\n}\n'
    out = postprocess("go", go)
    assert "fmt" not in out and '"math"' in out and "func main" not in out and "package" not in out
    rust = (
        '//! ```cargo\n//! [dependencies]\n//! anyhow = "*"\n//! ```\n#![allow(unused)]\nextern crate anyhow;\n'
        "use anyhow::Result;\n\npub fn f(x: i32) -> Result<i32> {\n    Ok(x)\n}\n\npub fn main() -> Result<()> {\n    Ok(())\n}\n"
    )
    out = postprocess("rust", rust)
    assert "anyhow" not in out and "fn main" not in out and "//!" not in out
    assert out.startswith("type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;")
    cpp = "#include <cstdint>\nstd::vector<int> f() { return {}; }\nint main(int argc, char** argv) { return 0; }\n"
    out = postprocess("cpp", cpp)
    assert out.startswith("#include <vector>") and "main" not in out
