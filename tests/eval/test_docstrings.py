"""Documentation stripping: the docstring and its restatements go, every other byte stays."""

from __future__ import annotations

import pytest

from eval.docstrings import documentation_spans, restates, strip_documentation, words

DOC = "Return the greatest common divisor of two non-negative integers."


def test_python_docstring_goes_and_other_comments_stay():
    code = (
        "def gcd(a, b):\n"
        '    """Return the greatest common divisor.\n\n    >>> gcd(4, 6)\n    2\n    """\n'
        "    # Euclid\n"
        "    while b:\n"
        "        a, b = b, a % b  # swap\n"
        "    return a\n"
    )
    assert strip_documentation(code, "python", DOC) == (
        "def gcd(a, b):\n"
        "    # Euclid\n"
        "    while b:\n"
        "        a, b = b, a % b  # swap\n"
        "    return a\n"
    )


@pytest.mark.parametrize(
    ("language", "code", "expected"),
    [
        (
            "java",
            "/**\n * Greatest common divisor.\n * @param a first\n */\npublic static int gcd(int a, int b) {\n"
            "  return b == 0 ? a : gcd(b, a % b); // recurse\n}\n",
            "public static int gcd(int a, int b) {\n  return b == 0 ? a : gcd(b, a % b); // recurse\n}\n",
        ),
        (
            "go",
            'import (\n\t"strings"\n)\n\n// Gcd returns the gcd.\n// It loops.\nfunc Gcd(a, b int) int {\n\treturn a\n}\n',
            'import (\n\t"strings"\n)\n\nfunc Gcd(a, b int) int {\n\treturn a\n}\n',
        ),
        (
            "rust",
            "/// Greatest common divisor\n#[inline]\nfn gcd(a: u64, b: u64) -> u64 {\n    a // done\n}\n",
            "#[inline]\nfn gcd(a: u64, b: u64) -> u64 {\n    a // done\n}\n",
        ),
        (
            "ruby",
            "# Greatest common divisor.\ndef gcd(a, b)\n  a\nend\n",
            "def gcd(a, b)\n  a\nend\n",
        ),
        (
            "php",
            "/**\n * Greatest common divisor.\n */\nfunction gcd($a, $b) {\n    return $a;\n}\n",
            "function gcd($a, $b) {\n    return $a;\n}\n",
        ),
        (
            "javascript",
            "/** Greatest common divisor. */\nfunction gcd(a, b) {\n  return a; // first\n}\n",
            "function gcd(a, b) {\n  return a; // first\n}\n",
        ),
    ],
)
def test_documentation_comment_before_the_definition_goes(language, code, expected):
    assert strip_documentation(code, language, "Greatest common divisor.") == expected


def test_a_comment_restating_the_docstring_goes_wherever_it_is():
    # a translator carried the docstring into the body, over two lines, and after code
    code = (
        "#include <cstdint>  // NOLINT\n"
        "inline int gcd(int a, int b) {\n"
        "  // Return the greatest common divisor\n"
        "  // of two non-negative integers.\n"
        "  int t = 0;  /* greatest common divisor, non-negative integers */\n"
        "  // swap until b is zero\n"
        "  return b == 0 ? a : gcd(b, a % b);\n"
        "}\n"
    )
    assert strip_documentation(code, "cpp", DOC) == (
        "#include <cstdint>  // NOLINT\n"
        "inline int gcd(int a, int b) {\n"
        "  int t = 0;\n"
        "  // swap until b is zero\n"
        "  return b == 0 ? a : gcd(b, a % b);\n"
        "}\n"
    )


def test_without_documentation_the_code_is_unchanged():
    code = "func Add(a, b int) int {\n\t// add them\n\treturn a + b\n}\n"
    assert strip_documentation(code, "go", DOC) == code
    assert strip_documentation("whatever :)", "cobol", DOC) == "whatever :)"  # unknown language
    assert documentation_spans(code, "go", DOC) == []


def test_restating_is_a_share_of_the_docstring_words():
    doc_words = words(DOC)
    assert doc_words == {"greatest", "common", "divisor", "two", "non", "negative", "integers"}
    assert restates("// greatest common divisor of two integers", doc_words)  # 5 of 7
    assert not restates("// swap a and b", doc_words)
    assert not restates("anything", set())
    assert words("getUserName(user_id)") == {"get", "user", "name", "id"}
