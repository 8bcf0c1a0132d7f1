"""Licenses of repositories: detection from real license texts and package metadata, policies,
the source stage's rejections, and the license table command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.sources import SourceConfig, SourceStats, read_source
from pipeline.sources.core import make_pair
from pipeline.sources.licenses import (
    LicenseInfo,
    LicensePolicy,
    detect_license,
    identify_license,
    is_permissive,
    license_files,
    main,
    match_text,
    normalize_expression,
    parse_license_policy,
)
from schemas import RejectedRow, SourcePair
from tests.support import missing

COMMON = Path("/usr/share/common-licenses")


def spdx_text(spdx_id: str, holder: str = "2021 Jane Doe") -> str:
    """A license as a project writes it: the SPDX text of the ``spdx`` package with its template
    variables filled in with their usual wording and a real copyright line."""
    import spdx_lookup

    template = spdx_lookup.by_id(spdx_id).template
    text = re.sub(
        r"<<var;name=.*?;original=(.*?);match=.*?>>", lambda m: m.group(1), template, flags=re.S
    )
    text = re.sub(r"<<(begin|end)Optional[^>]*>>", "", text)
    text = re.sub(
        r"^.*copyright.*<(year|owner|copyright holders)>.*$",
        f"Copyright (c) {holder}",
        text,
        flags=re.M | re.I,
    )
    return text


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def common(name: str) -> str:
    path = COMMON / name
    if not path.is_file():
        missing("base-files", f"{path} is not on this machine (Debian's base-files ships it)")
    return path.read_text(encoding="utf-8")


# --- texts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spdx_id", "expected"),
    [
        ("MIT", "mit"),
        ("X11", "x11"),
        ("BSD-2-Clause", "bsd-2-clause"),
        ("BSD-3-Clause", "bsd-3-clause"),
        ("ISC", "isc"),
        ("Unlicense", "unlicense"),
        ("Zlib", "zlib"),
        ("BSL-1.0", "bsl-1.0"),
        ("MPL-2.0", "mpl-2.0"),
        ("AGPL-3.0", "agpl-3.0"),
    ],
)
def test_license_texts_are_told_apart(tmp_path, spdx_id, expected):
    write(tmp_path, "LICENSE", spdx_text(spdx_id))
    info = identify_license(tmp_path)
    assert info.expression == expected
    assert info.evidence == "LICENSE (text)" and info.confidence >= 0.9


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GPL-2", "gpl-2.0"),
        ("GPL-3", "gpl-3.0"),
        ("LGPL-2.1", "lgpl-2.1"),
        ("LGPL-3", "lgpl-3.0"),
        ("Apache-2.0", "apache-2.0"),
        ("BSD", "bsd-3-clause"),
        ("MPL-2.0", "mpl-2.0"),
        ("CC0-1.0", "cc0-1.0"),
    ],
)
def test_debian_license_files(tmp_path, name, expected):
    write(tmp_path, "COPYING", common(name))
    assert detect_license(tmp_path) == expected


def test_apache_with_notice_or_without_appendix_is_still_apache(tmp_path):
    apache = common("Apache-2.0")
    notice = (
        "\n\nNOTICE\n\nThis product includes software developed by Acme Corp (https://acme.example).\n"
        * 3
    )
    assert match_text(apache + notice).license_id == "apache-2.0"
    cut = apache[: apache.index("END OF TERMS AND CONDITIONS") + len("END OF TERMS AND CONDITIONS")]
    assert match_text(cut).license_id == "apache-2.0"


def scancode_text(key: str) -> str:
    """A license text from ScanCode's database (``licensedcode-data``), without its front matter."""
    import importlib.resources

    raw = (
        importlib.resources.files("licensedcode") / "data" / "licenses" / f"{key}.LICENSE"
    ).read_text()
    return raw.split("\n---\n", 1)[1]


def test_licenses_newer_than_the_spdx_list_are_recognised_without_taking_older_matches(tmp_path):
    mit0 = "MIT No Attribution\n\nCopyright 2023 Jane Doe\n\n" + scancode_text("mit-0")
    assert (
        match_text(mit0).license_id == "mit-0" and match_text(spdx_text("MIT")).license_id == "mit"
    )
    write(
        tmp_path,
        "LICENSE.md",
        "# Blue Oak Model License\n\nVersion 1.0.0\n\n" + scancode_text("blueoak-1.0.0"),
    )
    assert detect_license(tmp_path) == "blueoak-1.0.0" and is_permissive("blueoak-1.0.0")
    # Pixar's license is Apache-2.0 with a changed trademark clause, newer than the spdx list:
    # it never takes Apache's match, and is itself reported as the Apache-2.0 it modifies.
    assert match_text(common("Apache-2.0")).license_id == "apache-2.0"
    assert match_text(scancode_text("pixar")).license_id == "apache-2.0"


def test_a_bundled_third_party_text_does_not_change_the_projects_license():
    text = spdx_text("BSD-3-Clause") + "\n\n---- bundled: libfoo ----\n\n" + common("GPL-3")
    found = match_text(text)
    assert found.license_id == "bsd-3-clause" and found.others == ("gpl-3.0",)


def test_titles_and_fragments_are_recognised_with_low_confidence():
    for text, expected in [
        (
            "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/\n",
            "apache-2.0",
        ),
        ("GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007", "gpl-3.0"),
        ("GNU LESSER GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007", "lgpl-3.0"),
    ]:
        found = match_text(text)
        assert (
            found.license_id == expected and found.method == "fragment" and found.confidence <= 0.5
        )


def test_a_standard_header_as_the_whole_license_file(tmp_path):
    write(
        tmp_path,
        "LICENSE.md",
        (
            'Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in '
            "compliance with the License. You may obtain a copy of the License at\n\n"
            "    http://www.apache.org/licenses/LICENSE-2.0\n\nUnless required by applicable law or agreed to in writing, "
            'software distributed under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR '
            "CONDITIONS OF ANY KIND, either express or implied. See the License for the specific language governing "
            "permissions and limitations under the License.\n"
        ),
    )
    info = identify_license(tmp_path)
    assert info.expression == "apache-2.0" and info.evidence == "LICENSE.md (header)"


def test_custom_and_proprietary_texts_are_unknown(tmp_path):
    write(
        tmp_path,
        "LICENSE",
        "Copyright 2020 Acme Corp. All rights reserved.\n\n"
        "This software is proprietary. You may not copy, modify or distribute it without our written consent.\n",
    )
    info = identify_license(tmp_path)
    assert info == LicenseInfo(None, "LICENSE: no SPDX license recognised", 0.0)
    assert detect_license(tmp_path / "missing") is None
    assert identify_license(tmp_path / "missing").evidence == "no license file or package metadata"


# --- files in a repository ----------------------------------------------------------------------


def test_license_file_names(tmp_path):
    for name in (
        "LICENSE-MIT",
        "licence.txt",
        "COPYING.LESSER",
        "UNLICENSE",
        "License.rst",
        "LICENSE.APACHE2",
        "LICENSE.py",
        "LICENSES",
        "licenses.md.bak",
        "README.md",
    ):
        write(tmp_path, name, "x")
    (tmp_path / "LICENSE").mkdir()
    names = [p.name for p in license_files(tmp_path)]
    assert names == [
        "COPYING.LESSER",
        "licence.txt",
        "LICENSE-MIT",
        "LICENSE.APACHE2",
        "License.rst",
        "UNLICENSE",
    ]


def test_split_license_files_are_alternatives(tmp_path):
    write(tmp_path, "LICENSE-MIT", spdx_text("MIT"))
    write(tmp_path, "LICENSE-APACHE", common("Apache-2.0"))
    info = identify_license(tmp_path)
    assert info.expression == "apache-2.0 or mit"
    assert info.evidence == "LICENSE-APACHE + LICENSE-MIT (text)"
    # The package metadata says how they combine, in its own order.
    write(tmp_path, "Cargo.toml", '[package]\nname = "x"\nlicense = "MIT OR Apache-2.0"\n')
    info = identify_license(tmp_path)
    assert info.expression == "mit or apache-2.0" and "Cargo.toml package.license" in info.evidence


def test_a_pointer_file_next_to_the_texts(tmp_path):
    # cryptography's / packaging's layout: LICENSE points at two files with the texts.
    write(
        tmp_path,
        "LICENSE",
        "This software is made available under the terms of *either* of the licenses "
        "found in LICENSE.APACHE or LICENSE.BSD. Contributions are made under the terms of *both* these licenses.",
    )
    write(tmp_path, "LICENSE.APACHE", common("Apache-2.0"))
    write(tmp_path, "LICENSE.BSD", spdx_text("BSD-2-Clause"))
    assert detect_license(tmp_path) == "apache-2.0 or bsd-2-clause"


def test_gpl_next_to_lgpl_is_lgpl(tmp_path):
    write(tmp_path, "COPYING", common("GPL-3"))
    write(tmp_path, "COPYING.LESSER", common("LGPL-3"))
    assert detect_license(tmp_path) == "lgpl-3.0"


# --- package metadata -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected", "field"),
    [
        ("package.json", json.dumps({"name": "x", "license": "ISC"}), "isc", "license"),
        ("package.json", json.dumps({"license": {"type": "MIT"}}), "mit", "license"),
        (
            "package.json",
            json.dumps({"licenses": [{"type": "MIT"}, {"type": "GPL-2.0"}]}),
            "mit or gpl-2.0",
            "licenses",
        ),
        (
            "Cargo.toml",
            '[package]\nname = "x"\nlicense = "MIT/Apache-2.0"\n',
            "mit or apache-2.0",
            "package.license",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\nlicense = "BSD-3-Clause"\n',
            "bsd-3-clause",
            "project.license",
        ),
        (
            "pyproject.toml",
            '[project]\nname = "x"\nlicense = {text = "Apache-2.0"}\n',
            "apache-2.0",
            "project.license.text",
        ),
        (
            "pyproject.toml",
            '[tool.poetry]\nname = "x"\nlicense = "GPL-3.0-only"\n',
            "gpl-3.0",
            "tool.poetry.license",
        ),
        ("setup.cfg", "[metadata]\nname = x\nlicense = MIT\n", "mit", "metadata.license"),
        (
            "composer.json",
            json.dumps({"license": ["LGPL-2.1-only", "GPL-3.0-or-later"]}),
            "lgpl-2.1 or gpl-3.0-or-later",
            "license",
        ),
        (
            "acme.gemspec",
            'Gem::Specification.new do |s|\n  s.name = "acme"\n  s.licenses = ["MIT", "Ruby"]\nend\n',
            "mit or ruby",
            "license",
        ),
        (
            "acme.gemspec",
            "Gem::Specification.new do |spec|\n  spec.license = 'BSD-2-Clause'\nend\n",
            "bsd-2-clause",
            "license",
        ),
        (
            "PKG-INFO",
            "Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT AND (Apache-2.0 OR BSD-2-Clause)\n",
            "mit and (apache-2.0 or bsd-2-clause)",
            "License-Expression",
        ),
    ],
)
def test_metadata_only_repositories(tmp_path, name, text, expected, field):
    write(tmp_path, name, text)
    info = identify_license(tmp_path)
    assert info.expression == expected
    assert info.evidence == f"{name} {field}" and info.confidence == 1.0


def test_metadata_pointing_at_a_license_file(tmp_path):
    write(tmp_path, "docs/LEGAL.txt", spdx_text("BSD-2-Clause"))
    write(
        tmp_path, "pyproject.toml", '[project]\nname = "x"\nlicense = {file = "docs/LEGAL.txt"}\n'
    )
    info = identify_license(tmp_path)
    assert (
        info.expression == "bsd-2-clause"
        and info.evidence == "pyproject.toml project.license.file (text)"
    )


def test_license_file_wins_over_metadata_and_bad_metadata_is_explained(tmp_path):
    write(tmp_path, "package.json", json.dumps({"license": "GPL-3.0"}))
    write(tmp_path, "LICENSE", spdx_text("MIT"))
    assert identify_license(tmp_path).expression == "mit"
    other = tmp_path / "other"
    write(other, "package.json", json.dumps({"license": "SEE LICENSE IN legal.txt"}))
    write(other, "setup.cfg", "[metadata]\nlicense = BSD\n")
    info = identify_license(other)
    assert info.expression is None
    assert (
        "'SEE LICENSE IN legal.txt' is not an SPDX expression" in info.evidence
        and "'BSD'" in info.evidence
    )
    write(other, "package.json", "{not json")
    assert "package.json: unreadable" in identify_license(other).evidence


# --- expressions and permissiveness -------------------------------------------------------------


def test_expressions_are_normalised():
    assert normalize_expression("MIT OR Apache-2.0") == "mit or apache-2.0"
    assert (
        normalize_expression("(MIT OR Apache-2.0) AND Unicode-DFS-2016")
        == "(mit or apache-2.0) and unicode-dfs-2016"
    )
    assert normalize_expression("GPL-3.0-only") == normalize_expression("gpl-3.0") == "gpl-3.0"
    assert (
        normalize_expression("Apache-2.0 WITH LLVM-exception") == "apache-2.0 with llvm-exception"
    )
    assert (
        normalize_expression("BSD") is None
        and normalize_expression("") is None
        and normalize_expression(None) is None
    )


def test_is_permissive_follows_scancode_categories_and_the_expression():
    assert all(
        is_permissive(x)
        for x in (
            "mit",
            "Apache-2.0",
            "bsd-3-clause",
            "isc",
            "0bsd",
            "zlib",
            "unlicense",
            "cc0-1.0",
            "python-2.0",
            "mit-0",
        )
    )
    assert not any(
        is_permissive(x) for x in ("gpl-3.0", "lgpl-2.1", "agpl-3.0", "mpl-2.0", "cc-by-nc-4.0")
    )
    assert is_permissive("mit or gpl-3.0") and not is_permissive("mit and gpl-3.0")
    assert is_permissive("apache-2.0 with llvm-exception")
    assert (
        not is_permissive(None)
        and not is_permissive("LicenseRef-acme")
        and not is_permissive("BSD")
    )


def test_minhash_prefers_the_same_permissive_licenses():
    from pipeline.minhash import MinHashConfig
    from pipeline.minhash import is_permissive as minhash_permissive

    assert minhash_permissive("MIT OR GPL-3.0") and not minhash_permissive("gpl-3.0")
    assert minhash_permissive("mpl-2.0", ("permissive", "mpl-*")) and not minhash_permissive(
        "mit", ("gpl-*",)
    )
    assert MinHashConfig().permissive_licenses == ("permissive",)


# --- policies ------------------------------------------------------------------------------


def test_policies_parse_and_validate():
    assert parse_license_policy("any") == LicensePolicy()
    assert parse_license_policy(" Permissive ") == LicensePolicy("permissive")
    listed = parse_license_policy("MIT, Apache-2.0,gpl-3.0-only,mit")
    assert (
        listed == LicensePolicy("list", ("mit", "apache-2.0", "gpl-3.0"))
        and str(listed) == "mit,apache-2.0,gpl-3.0"
    )
    with pytest.raises(ValueError, match="'foo-1.0' is not an SPDX license id"):
        parse_license_policy("mit,foo-1.0")
    for bad in ("", " , ", "mit or apache-2.0"):
        with pytest.raises(ValueError):
            parse_license_policy(bad)
    with pytest.raises(ValueError, match="mode"):
        LicensePolicy("some")


def test_policy_checks_give_reasons():
    any_, permissive = LicensePolicy(), LicensePolicy("permissive")
    listed = parse_license_policy("mit,apache-2.0")
    assert any_.check(None) is None and any_.check("gpl-3.0") is None
    assert permissive.check("mit") is None and permissive.check("gpl-3.0 or mit") is None
    assert (
        permissive.check(None)[0] == "license_unknown"
        and permissive.check("  ")[0] == "license_unknown"
    )
    assert permissive.check("Apache 2") == (
        "license_unknown",
        "license 'Apache 2' is not an SPDX expression; --licenses=permissive",
    )
    reason, message = permissive.check("gpl-3.0 and mit")
    assert reason == "license_not_allowed" and "'gpl-3.0 and mit'" in message
    assert listed.check("MIT") is None and listed.check("apache-2.0 or gpl-2.0") is None
    assert listed.check("mit and gpl-2.0")[0] == "license_not_allowed"
    assert (
        listed.check("bsd-3-clause")[0] == "license_not_allowed"
        and listed.check(None)[0] == "license_unknown"
    )


def test_make_pair_rejects_refused_licenses():
    fields = {
        "repository_name": "acme/x",
        "func_path_in_repository": "x.py",
        "func_name": "f",
        "language": "python",
        "code": "def f(a):\n    return a\n",
        "docstring": "Return a unchanged please.",
        "license": "gpl-3.0",
    }
    assert isinstance(make_pair(fields, "x.py:1", SourceConfig(), SourceStats()), SourcePair)
    row = make_pair(fields, "x.py:1", SourceConfig(licenses="permissive"), SourceStats())
    assert (
        isinstance(row, RejectedRow)
        and row.stage == "source"
        and row.reason == "license_not_allowed"
    )
    assert row.detail.startswith("x.py:1: license 'gpl-3.0'") and row.repository_name == "acme/x"
    row = make_pair(
        {**fields, "license": None}, "x.py:1", SourceConfig(licenses="mit"), SourceStats()
    )
    assert row.reason == "license_unknown"
    assert isinstance(
        make_pair(fields, "x.py:1", SourceConfig(licenses="mit,gpl-3.0"), SourceStats()), SourcePair
    )
    with pytest.raises(ValueError):
        SourceConfig(licenses="mit,nope")


# --- the source stage over repositories ------------------------------------------------------

FUNCTION = '''
def {name}(values: list) -> int:
    """Count the values that are positive in the given list.

    >>> {name}([1, -2, 3])
    2
    """
    total = 0
    for v in values:
        total += v > 0
    return total
'''


def make_repos(root: Path) -> dict[str, Path]:
    repos = {
        "mit-tool": ("LICENSE", spdx_text("MIT")),
        "dual-tool": ("LICENSE-MIT", spdx_text("MIT")),
        "gpl-tool": ("COPYING", common("GPL-3")),
        "meta-tool": ("package.json", json.dumps({"name": "meta-tool", "license": "BSD-2-Clause"})),
        "bare-tool": (None, None),
    }
    out = {}
    for name, (file, text) in repos.items():
        repo = root / name
        write(repo, "src/count.py", FUNCTION.format(name=f"count_{name.split('-')[0]}"))
        if file:
            write(repo, file, text)
        out[name] = repo
    write(out["dual-tool"], "LICENSE-APACHE", common("Apache-2.0"))
    return out


def test_read_repo_source_keeps_permissive_and_rejects_the_rest(tmp_path):
    repos = make_repos(tmp_path)
    spec = "repo:" + ",".join(str(p) for p in repos.values())
    stats = SourceStats()
    records = list(read_source(spec, SourceConfig(licenses="permissive"), stats))
    kept = {r.repository_name: r.license for r in records if isinstance(r, SourcePair)}
    assert kept == {
        "mit-tool": "mit",
        "dual-tool": "apache-2.0 or mit",
        "meta-tool": "bsd-2-clause",
    }
    rejected = {
        r.repository_name: (r.reason, r.detail) for r in records if isinstance(r, RejectedRow)
    }
    assert set(rejected) == {"gpl-tool", "bare-tool"}
    assert (
        rejected["gpl-tool"][0] == "license_not_allowed" and "'gpl-3.0'" in rejected["gpl-tool"][1]
    )
    assert rejected["bare-tool"][0] == "license_unknown"
    assert stats.dropped == {"license_not_allowed": 1, "license_unknown": 1} and stats.kept == 3

    only_gpl = list(read_source(spec, SourceConfig(licenses="GPL-3.0")))
    assert [r.repository_name for r in only_gpl if isinstance(r, SourcePair)] == ["gpl-tool"]
    everything = list(read_source(spec, SourceConfig()))
    assert all(isinstance(r, SourcePair) for r in everything) and len(everything) == 5


def test_pipeline_flag_reaches_the_source_config():
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import run_config_from_options
    from pipeline.run import stage_configs

    cfg = run_config_from_options(
        PipelineOptions(["--licenses=MIT,apache-2.0", "--translator=py2many"])
    )
    assert cfg.licenses == LicensePolicy("list", ("mit", "apache-2.0"))
    assert stage_configs(cfg, "none")["source"].licenses == cfg.licenses
    assert run_config_from_options(PipelineOptions([])).licenses == LicensePolicy()
    with pytest.raises(ValueError, match="'mit-9' is not an SPDX license id"):
        run_config_from_options(PipelineOptions(["--licenses=mit-9"]))


# --- the license table ----------------------------------------------------------------------


def test_license_table_command(tmp_path, capsys):
    repos = make_repos(tmp_path)
    assert main([str(tmp_path / "*-tool")]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(str(tmp_path))}
    assert lines[str(repos["mit-tool"])].split()[1:4] == ["mit", "yes", "1.00"]
    assert lines[str(repos["gpl-tool"])].split()[1:3] == ["gpl-3.0", "no"]
    assert "package.json license" in lines[str(repos["meta-tool"])]
    assert lines[str(repos["bare-tool"])].split()[1:3] == ["unknown", "no"]
    totals = {line.split()[0]: line.split()[1:] for line in out.split("\n\n")[-1].splitlines()[1:]}
    assert (
        totals["mit"] == ["1", "yes"]
        and totals["unknown"] == ["1", "no"]
        and totals["total"] == ["5"]
    )

    assert main(["--json", str(repos["gpl-tool"] / "COPYING")]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (
        row["expression"] == "gpl-3.0"
        and row["permissive"] is False
        and row["evidence"] == "COPYING (text)"
    )
    assert main([str(tmp_path / "nope")]) == 2
    assert main([str(tmp_path / "nothing-*")]) == 2
