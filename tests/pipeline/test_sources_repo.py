"""The ``repo:`` walker and the repository corpus on repositories the tests create, and on the
project's own source tree: several roots and globs, nested checkouts, remotes and permalinks,
worktrees, every kind of unusable file, and the corpus the trainer reads back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.sources import SourceConfig, SourceError, SourceStats, read_source
from pipeline.sources.corpus import CorpusConfig, ReadRepoCorpus, read_repo_corpus
from pipeline.sources.corpus import main as corpus_main
from pipeline.sources.repo import find_repositories, repo_info
from schemas import REPO_FILE_SCHEMA, RejectedRow, RepoFile, SourcePair

PROJECT = Path(__file__).resolve().parents[2]
MIT = (
    "MIT License\n\nCopyright (c) 2024 Acme\n\nPermission is hereby granted, free of charge, to any person "
    'obtaining a copy of this software and associated documentation files (the "Software"), to deal in the '
    "Software without restriction, including without limitation the rights to use, copy, modify, merge, "
    "publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the "
    "Software is furnished to do so, subject to the following conditions:\n\nThe above copyright notice and "
    "this permission notice shall be included in all copies or substantial portions of the Software.\n\n"
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT '
    "LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO "
    "EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER "
    "IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE "
    "USE OR OTHER DEALINGS IN THE SOFTWARE.\n"
)


def py_function(name: str) -> str:
    return f'def {name}(x):\n    """Return x scaled by two, as {name} does."""\n    y = 2 * x\n    return y\n'


def go_function(name: str) -> str:
    return f"package p\n\n// {name} returns x scaled by two here.\nfunc {name}(x int) int {{\n\ty := 2 * x\n\treturn y\n}}\n"


def git_checkout(
    root: Path, remote: str | None, sha: str = "a" * 40, license_text: str | None = None
) -> Path:
    """A directory that looks like a git checkout (HEAD, a branch ref, the origin remote)."""
    (root / ".git" / "refs" / "heads").mkdir(parents=True)
    config = "[core]\n\tbare = false\n"
    if remote:
        config += f'[remote "origin"]\n\turl = {remote}\n'
    (root / ".git" / "config").write_text(config)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git" / "refs" / "heads" / "main").write_text(sha + "\n")
    if license_text:
        (root / "LICENSE").write_text(license_text)
    return root


def read(spec: str, config: SourceConfig | None = None) -> tuple[list, SourceStats]:
    stats = SourceStats()
    return list(read_source(spec, config, stats)), stats


def test_several_roots_and_globs_are_each_a_repository(tmp_path):
    for name in ("alpha", "beta"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.py").write_text(py_function(name))
    (tmp_path / "not-a-dir.txt").write_text("x")
    by_list, _ = read(f"repo:{tmp_path / 'alpha'},{tmp_path / 'beta'}")
    by_glob, stats = read(f"repo:{tmp_path}/*")
    assert sorted((r.repository_name, r.func_name) for r in by_list) == [
        ("alpha", "alpha"),
        ("beta", "beta"),
    ]
    assert sorted(r.pair_id for r in by_glob) == sorted(r.pair_id for r in by_list)
    assert stats.repositories == 2
    assert find_repositories(f"{tmp_path / 'alpha'},{tmp_path}/alph*") == [
        tmp_path / "alpha"
    ]  # no repeats
    with pytest.raises(SourceError, match="no directories match"):
        find_repositories(f"{tmp_path}/gamma*")
    with pytest.raises(SourceError, match="is not a directory"):
        find_repositories(f"{tmp_path / 'alpha'},{tmp_path / 'missing'}")


def test_nested_checkout_is_its_own_repository_with_its_own_license_and_permalink(tmp_path):
    outer = git_checkout(tmp_path / "outer", "https://github.com/acme/outer.git", "b" * 40)
    (outer / "lib.go").write_text(go_function("Double"))
    inner = git_checkout(
        outer / "deps" / "inner", "git@gitlab.com:group/sub/inner.git", "c" * 40, MIT
    )
    (inner / "util.py").write_text("\n" + py_function("scale"))
    records, stats = read(f"repo:{outer}")
    by_name = {r.func_name: r for r in records}
    assert stats.repositories == 2
    double, scale = by_name["Double"], by_name["scale"]
    assert (double.repository_name, double.func_path_in_repository) == ("acme/outer", "lib.go")
    assert double.url == f"https://github.com/acme/outer/blob/{'b' * 40}/lib.go#L4-L7"
    assert (scale.repository_name, scale.func_path_in_repository) == ("group/sub/inner", "util.py")
    assert scale.url == f"https://gitlab.com/group/sub/inner/-/blob/{'c' * 40}/util.py#L2-5"
    assert scale.license == "mit" and scale.sha == "c" * 40
    assert double.license is None  # the outer checkout has no license file of its own


@pytest.mark.parametrize(
    ("remote", "name", "web"),
    [
        ("git@github.com:org/name.git", "org/name", "https://github.com/org/name"),
        ("ssh://git@bitbucket.org/team/tool.git", "team/tool", "https://bitbucket.org/team/tool"),
        ("https://codeberg.org/forge/proj", "forge/proj", "https://codeberg.org/forge/proj"),
        ("git@git.example.com:team/tool.git", "team/tool", None),  # unknown forge: no permalink
    ],
)
def test_remote_names_and_web_addresses(tmp_path, remote, name, web):
    info = repo_info(git_checkout(tmp_path / "r", remote))
    assert (info.repository_name, info.web_url) == (name, web)
    assert (info.permalink("a.py", 3, 9) is None) == (web is None)


def test_worktree_git_file_is_followed_to_its_commit_and_remote(tmp_path):
    main = git_checkout(tmp_path / "main", "https://github.com/acme/tool.git", "d" * 40)
    worktree_git = main / ".git" / "worktrees" / "feature"
    worktree_git.mkdir(parents=True)
    (worktree_git / "HEAD").write_text("ref: refs/heads/feature\n")
    (worktree_git / "commondir").write_text("../..\n")
    (main / ".git" / "packed-refs").write_text(
        f"# pack-refs with: peeled\n{'e' * 40} refs/heads/feature\n"
    )
    feature = tmp_path / "feature"
    feature.mkdir()
    (feature / ".git").write_text(f"gitdir: {worktree_git}\n")
    info = repo_info(feature)
    assert (info.repository_name, info.sha) == ("acme/tool", "e" * 40)


def test_unusable_files_are_counted_by_reason_and_nothing_crashes(tmp_path, monkeypatch):
    root = tmp_path / "messy"
    root.mkdir()
    (root / "good.py").write_text(py_function("good"))
    (root / "binary.py").write_bytes(b"\x7fELF\x00\x00" + b"\x01" * 64)
    (root / "latin1.py").write_bytes(
        "def f(x):\n    '''Café au lait, x times.'''\n    return x\n".encode("latin-1")
    )
    (root / "huge.py").write_text(py_function("huge") + "# padding\n" * 2_000)
    (root / "README.md").write_text("# not code\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "dangling.py").symlink_to(root / "nowhere.py")
    (root / "alias.py").symlink_to(root / "good.py")
    (root / "locked.py").write_text(py_function("locked"))
    (root / "tests").mkdir()
    (root / "tests" / "helpers.py").write_text(py_function("helper"))
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:  # root reads any file, so a permission error is simulated
        if self.name == "locked.py":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    records, stats = read(f"repo:{root}", SourceConfig(max_repo_file_bytes=10_000))
    pairs = [r for r in records if isinstance(r, SourcePair)]
    rejected = {r.func_path_in_repository: r for r in records if isinstance(r, RejectedRow)}
    assert [p.func_name for p in pairs] == ["good"]
    assert {path: r.reason for path, r in rejected.items()} == {
        "latin1.py": "invalid_utf8",
        "locked.py": "read_error",
    }
    assert "Permission denied" in rejected["locked.py"].detail
    assert dict(stats.files) == {
        "read": 1,
        "skipped_binary": 1,
        "skipped_invalid_utf8": 1,
        "skipped_read_error": 1,
        "skipped_too_large": 1,
        "skipped_unknown_language": 2,
        "skipped_broken_symlink": 1,
        "skipped_symlink": 1,
        "skipped_test_file": 1,
    }
    on_disk = sum(len(files) for _, _, files in os.walk(root))
    assert sum(stats.files.values()) == on_disk  # every file is accounted for


def test_corpus_keeps_whole_files_tests_included_and_skips_with_reasons(tmp_path):
    root = git_checkout(tmp_path / "proj", "https://github.com/acme/proj.git", "f" * 40, MIT)
    (root / "src").mkdir()
    (root / "src" / "a.py").write_text("import os\n\nX = 1\n" + py_function("a"))
    (root / "src" / "b.rs").write_text("fn main() {}\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_a.py").write_text("def test_a():\n    assert True\n")
    (root / "data.bin").write_bytes(b"\x00" * 10)
    (root / "big.js").write_text("x = 1;\n" * 400)
    stats = SourceStats()
    files = list(read_repo_corpus(f"repo:{root}", CorpusConfig(max_file_bytes=1_000), stats))
    assert [(f.path, f.language) for f in files] == [
        ("src/a.py", "python"),
        ("src/b.rs", "rust"),
        ("tests/test_a.py", "python"),
    ]
    first = files[0]
    assert first.content.startswith("import os\n") and first.size_bytes == len(
        first.content.encode()
    )
    assert (first.repository_name, first.license, first.sha) == ("acme/proj", "mit", "f" * 40)
    assert (
        stats.files["skipped_too_large"] == 1 and stats.files["skipped_unknown_language"] == 2
    )  # .bin, LICENSE
    without_tests = list(
        read_repo_corpus(f"repo:{root}", CorpusConfig(max_file_bytes=1_000, include_tests=False))
    )
    assert [f.path for f in without_tests] == ["src/a.py", "src/b.rs"]
    with pytest.raises(SourceError, match="needs a repo:PATH"):
        list(read_repo_corpus("sample"))


def test_corpus_license_policy_skips_refused_repositories(tmp_path):
    from pipeline.sources.licenses import parse_license_policy

    free = git_checkout(tmp_path / "free", None, license_text=MIT)
    (free / "a.py").write_text(py_function("a"))
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "b.py").write_text(py_function("b"))
    stats = SourceStats()
    config = CorpusConfig(licenses=parse_license_policy("permissive"))
    files = list(read_repo_corpus(f"repo:{free},{unknown}", config, stats))
    assert [(f.repository_name, f.path) for f in files] == [("free", "a.py")]
    assert stats.files["skipped_license"] == 1


def test_corpus_beam_transform_matches_the_core_and_the_cli_feeds_the_trainer(tmp_path):
    for name in ("one", "two"):
        (tmp_path / "repos" / name).mkdir(parents=True)
        (tmp_path / "repos" / name / "m.py").write_text(
            py_function(name) + "\n\n" + py_function(name + "_again")
        )
    spec = f"repo:{tmp_path / 'repos'}/*"
    expected = [f.to_row() for f in read_repo_corpus(spec)]
    p = BeamTestPipeline()
    assert_that(p | ReadRepoCorpus(spec), equal_to(expected))
    p.run().wait_until_finish()

    out = tmp_path / "corpus"
    assert corpus_main([spec, f"--output={out}"]) == 0
    table = pq.read_table(out)  # the summary file starts with "_", which parquet readers skip
    assert table.schema.equals(REPO_FILE_SCHEMA, check_metadata=False)
    assert sorted(RepoFile.from_row(r).repository_name for r in table.to_pylist()) == ["one", "two"]
    assert json.loads((out / "_corpus_stats.json").read_text())["files_written"] == 2

    from model.data import read_corpus

    groups = read_corpus(out)
    assert set(groups) == {"one", "two"} and all(groups.values())
    assert corpus_main(["csn:/nonexistent.jsonl", f"--output={tmp_path / 'x'}"]) == 2


def test_pipeline_run_emits_the_repo_corpus_and_counts_files(tmp_path):
    """Go functions under py2many stop at translation (unsupported source), so this run is cheap."""
    root = git_checkout(tmp_path / "goproj", "https://github.com/acme/goproj.git", license_text=MIT)
    (root / "calc.go").write_text(go_function("Double"))
    (root / "notes.txt").write_text("notes\n")
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "pipeline.run",
        f"--source=repo:{root}",
        "--translator=py2many",
        "--emit_repo_corpus",
        f"--output={out}",
        "--decontaminate=",
    ]
    proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["accounting"]["balanced"]
    assert stats["source_files"] == {
        "repositories": 1,
        "files_read": 1,
        "files_skipped_unknown_language": 2,
    }
    assert stats["repo_corpus"]["files_written"] == 1 and stats["repo_corpus"]["repositories"] == 1
    corpus = pq.read_table(out / "repo_corpus").to_pylist()
    assert [(r["repository_name"], r["path"], r["language"]) for r in corpus] == [
        ("acme/goproj", "calc.go", "go")
    ]
    assert "repo corpus: 1 files" in proc.stderr

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "--source=sample",
            "--emit_repo_corpus",
            f"--output={tmp_path / 'bad'}",
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--emit_repo_corpus needs a repo:PATH source" in bad.stderr


def test_the_projects_own_source_tree(tmp_path):
    """The extractor on real code: this repository (tests/ is left out as test files)."""
    records, stats = read(f"repo:{PROJECT}")
    pairs = [r for r in records if isinstance(r, SourcePair)]
    assert not [r for r in records if isinstance(r, RejectedRow)]
    assert len(pairs) >= 100 and {p.language for p in pairs} == {"python"}
    assert all(p.func_path_in_repository.split("/")[0] != "tests" for p in pairs)
    assert stats.files["skipped_test_file"] >= 30 and stats.filtered["no_docstring"] > 0
    names = {p.func_name for p in pairs}
    assert "find_repositories" in names and "RepoInfo.permalink" in names
    assert all(len(p.docstring.split()) >= 3 for p in pairs)


def test_sources_cli_prints_pairs_and_filters_per_language(tmp_path, capsys):
    from pipeline.sources.__main__ import main as sources_main

    (tmp_path / "m.py").write_text(
        py_function("scale") + "\n\ndef bare(x):\n    y = x\n    z = y\n    return z\n"
    )
    (tmp_path / "lib.go").write_text(go_function("Double"))
    assert sources_main([f"repo:{tmp_path}", "--table"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[: out.index("}\n") + 1])
    assert (
        summary["kept"] == 2
        and summary["filtered_no_docstring"] == 1
        and summary["files_read"] == 2
    )
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in out.splitlines()
        if line.startswith("│")
    }
    assert rows["python"][:3] == ["1", "2", "1"]  # files read, functions found, pairs kept
    assert rows["go"][:3] == ["1", "1", "1"] and rows["total"][:3] == ["2", "3", "2"]
    assert sources_main([f"repo:{tmp_path}", "--licenses=nonsense-license"]) == 2


def test_headers_are_read_as_cpp_only_when_their_text_is_cpp_and_rust_test_modules_are_tests(
    tmp_path,
):
    from pipeline.sources.repo import file_language, is_test_path

    assert file_language("include/list.h", "namespace util {\nint f();\n}\n") == "cpp"
    assert file_language("include/list.h", "template <typename T>\nT max(T a, T b);\n") == "cpp"
    assert file_language("include/list.h", "class Node {\n public:\n  int v;\n};\n") == "cpp"
    assert (
        file_language(
            "include/list.h", "struct node { int v; };\n/* class of nodes */\nint f(void);\n"
        )
        == "c"
    )
    assert file_language("include/list.h") == "c" and file_language("a.hpp") == "cpp"
    assert is_test_path("src/parser/tests.rs") and is_test_path("benches/speed.rs")
    assert not is_test_path("src/testing_utils.rs") and not is_test_path("src/contest.py")
    (tmp_path / "util.h").write_text(
        "namespace util {\n/** Returns the larger of the two values given. */\n"
        "inline int larger(int a, int b) {\n  if (a > b) return a;\n  return b;\n}\n}\n"
    )
    (record,), _ = read(f"repo:{tmp_path}")
    assert (record.language, record.func_name) == ("cpp", "larger")
    (file,) = read_repo_corpus(f"repo:{tmp_path}")
    assert file.language == "cpp"
