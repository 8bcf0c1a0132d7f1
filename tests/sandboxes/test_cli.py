"""``python -m sandboxes.run``: one JSON object per program, usable from shell scripts."""

import json

import pytest

from sandboxes.run import main

from .conftest import get_sandbox


@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_cli_prints_one_json_object(tmp_path, capsys, backend):
    get_sandbox(backend)  # skips with the reason when the backend is unavailable
    src = tmp_path / "up.py"
    src.write_text("import sys\nprint(sys.stdin.read().upper())\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("hello")
    assert main(["--language=py", str(src), f"--stdin={stdin}", "--timeout=5",
                 f"--backend={backend}"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["stdout"] == "HELLO\n" and out["exit_code"] == 0
    assert out["backend"] == backend and set(out) >= {"status", "exit_code", "stdout", "stderr", "wall_s"}


def test_cli_reports_timeouts_and_truncates(tmp_path, capsys):
    get_sandbox("bwrap")
    src = tmp_path / "loop.py"
    src.write_text("print('x' * 10000)\nwhile True:\n    pass\n")
    assert main(["--language=python", str(src), "--timeout=1", "--backend=bwrap",
                 "--max_chars=100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "timeout" and len(out["stdout"]) < 200


def test_cli_rejects_unknown_language(tmp_path, capsys):
    src = tmp_path / "a.cob"
    src.write_text("")
    assert main(["--language=cobol", str(src)]) == 2
    assert "unknown language" in capsys.readouterr().err
