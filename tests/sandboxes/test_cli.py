"""``python -m sandboxes.run``: one JSON line per program, usable from shell scripts."""

import json

import pytest

from sandboxes.run import main

from .conftest import BACKENDS, get_sandbox


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_prints_one_json_object(tmp_path, capsys, backend):
    get_sandbox(backend)  # skips with the reason when the backend is unavailable
    src = tmp_path / "up.py"
    src.write_text("import sys\nprint(sys.stdin.read().upper())\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("hello")
    assert (
        main(
            ["--language=py", str(src), f"--stdin={stdin}", "--timeout=30", f"--backend={backend}"]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["stdout"] == "HELLO\n" and out["exit_code"] == 0
    assert out["backend"] == backend and set(out) >= {
        "status",
        "exit_code",
        "stdout",
        "stderr",
        "wall_s",
    }
    assert out["file"] == str(src)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_runs_several_files_as_one_batch_in_order(tmp_path, capsys, backend):
    """Languages from the extensions, one stdin per file; one line per file, in order; the
    programs share the batch, so the second cannot see what the first left in /tmp."""
    get_sandbox(backend)
    files = {
        "a.py": "open('/tmp/left', 'w').write('x')\nprint('py', input())\n",
        "b.c": '#include <stdio.h>\nint main(void) { char s[9]; scanf("%8s", s); '
        'printf("c %s\\n", s); return 3; }\n',
        "c.py": "import os\nprint('py', input(), os.path.exists('/tmp/left'))\n",
    }
    argv = [f"--backend={backend}"]
    for i, (name, source) in enumerate(files.items()):
        (tmp_path / name).write_text(source)
        (tmp_path / f"in{i}").write_text(f"input{i}\n")
        argv += [str(tmp_path / name), f"--stdin={tmp_path / f'in{i}'}"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(tmp_path / name) for name in files]
    assert [(line["status"], line["stdout"]) for line in lines] == [
        ("ok", "py input0\n"),
        ("runtime_error", "c input1\n"),
        ("ok", "py input2 False\n"),
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_memory_mb_is_the_programs_memory_limit(tmp_path, capsys, backend):
    """``--memory_mb``: 300 MiB of touched memory passes under 512 MiB and is
    ``memory_exceeded`` under 128 MiB, the same program either way."""
    get_sandbox(backend)
    src = tmp_path / "hog.py"
    src.write_text("block = b'x' * (300 << 20)\nprint('held', len(block) >> 20)\n")
    verdicts = {}
    for limit in (512, 128):
        assert main([str(src), f"--memory_mb={limit}", f"--backend={backend}"]) == 0
        out = json.loads(capsys.readouterr().out)
        verdicts[limit] = (out["status"], out["stdout"].strip())
    assert verdicts == {512: ("ok", "held 300"), 128: ("memory_exceeded", "")}


@pytest.mark.bwrap
def test_cli_reports_timeouts_and_truncates(tmp_path, capsys):
    get_sandbox("bwrap")
    src = tmp_path / "loop.py"
    src.write_text("print('x' * 10000)\nwhile True:\n    pass\n")
    assert (
        main(["--language=python", str(src), "--timeout=1", "--backend=bwrap", "--max_chars=100"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "timeout" and len(out["stdout"]) < 200


def test_cli_rejects_unknown_language(tmp_path, capsys):
    src = tmp_path / "a.cob"
    src.write_text("")
    assert main(["--language=cobol", str(src)]) == 2
    assert "unknown language" in capsys.readouterr().err
    assert main([str(src)]) == 2
    assert "from its extension" in capsys.readouterr().err


def test_cli_rejects_a_per_file_option_count_that_does_not_match(tmp_path, capsys):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("")
    argv = [str(tmp_path / "a.py"), str(tmp_path / "b.py")]
    assert main([*argv, "--language=py", "--language=c", "--language=go"]) == 2
    assert "given 3 times for 2 files" in capsys.readouterr().err
