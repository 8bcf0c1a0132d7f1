"""The language table: one entry per language, aliases, file-name rule, fixtures for all."""

import pytest

from sandboxes import LANGUAGES, Program, resolve_language
from sandboxes.languages import expand

from .conftest import FIXTURES

EXPECTED = {"python", "javascript", "java", "cpp", "c", "go", "rust", "php", "ruby", "typescript"}


def test_table_holds_the_ten_languages():
    assert set(LANGUAGES) == EXPECTED


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_every_language_has_fixtures(name):
    lang = LANGUAGES[name]
    kinds = ["ok", "fail"] + (["compile_error"] if lang.compiled else [])
    for kind in kinds:
        path = FIXTURES / name / f"{kind}{lang.extension}"
        assert path.is_file(), f"{name} has no fixture {path}"


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("py", "python"),
        ("Python3", "python"),
        ("js", "javascript"),
        ("node", "javascript"),
        ("c++", "cpp"),
        ("golang", "go"),
        ("rs", "rust"),
        ("rb", "ruby"),
        ("java", "java"),
        ("TS", "typescript"),
    ],
)
def test_aliases_resolve(alias, name):
    assert resolve_language(alias).name == name


def test_unknown_language_names_the_valid_ones():
    with pytest.raises(ValueError, match="python"):
        resolve_language("cobol")
    with pytest.raises(ValueError):
        Program("cobol", "")


def test_java_file_is_named_after_its_public_class():
    java = LANGUAGES["java"]
    assert java.main_file("public class Solution {\n}") == "Solution.java"
    assert java.main_file("class Helper {}\npublic final class App {}") == "App.java"
    assert java.main_file("class NotPublic {}") == "Main.java"
    argv = expand(java, java.run_argv, "Solution.java", 1024)
    assert argv[-1] == "Solution" and "-Xmx768m" in argv


def test_program_rejects_bad_input():
    with pytest.raises(ValueError):
        Program("python", "", timeout_s=0)
    with pytest.raises(ValueError):
        Program("python", "", extra_files=(("../escape.py", ""),))
