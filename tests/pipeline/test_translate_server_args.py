"""``--vllm_server_kwargs``: what users write becomes a command line vLLM's parser accepts.

The command line is built by Beam's own ``_append_kwargs`` (what ``VLLMChatModelHandler``
runs) and parsed by the vLLM stand-in's parser, which follows vLLM's argument rules.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from apache_beam.ml.inference.vllm_inference import _append_kwargs

from pipeline.options import CodeTransOptions, run_config_from_options
from pipeline.translate.server_args import (
    human_readable_int,
    max_model_len,
    parse_server_kwargs,
    split_top_level,
)
from tests.pipeline.local_model import STANDINS


def _standin_parser():
    path = STANDINS / "vllm" / "entrypoints" / "openai" / "api_server.py"
    spec = importlib.util.spec_from_file_location("vllm_standin_api_server", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_arg_parser()


def _command(kwargs: dict) -> list[str]:
    cmd = ["--model", "/models/qwen", "--port", "8000"]
    _append_kwargs(cmd, kwargs)
    return cmd


def test_bare_flags_become_none_and_reach_vllm_as_flags():
    kwargs = parse_server_kwargs("enable-prefix-caching,max-model-len=2048,enforce-eager")
    assert kwargs == {"enable-prefix-caching": None, "max-model-len": "2048", "enforce-eager": None}
    args = _standin_parser().parse_args(_command(kwargs))
    assert (
        args.enable_prefix_caching is True
        and args.enforce_eager is True
        and args.max_model_len == 2048
    )


def test_the_old_empty_string_values_are_refused_by_vllms_parser():
    """What the option parser used to produce for bare flags: the server never started."""
    with pytest.raises(SystemExit) as info:
        _standin_parser().parse_args(_command({"enable-prefix-caching": "", "enforce-eager": ""}))
    assert info.value.code == 2


def test_json_values_keep_their_commas():
    text = 'max-model-len=32k,compilation-config={"level": 3, "cudagraph_capture_sizes": [1, 2, 4]},--seed=7'
    kwargs = parse_server_kwargs(text)
    assert kwargs["compilation-config"] == '{"level": 3, "cudagraph_capture_sizes": [1, 2, 4]}'
    assert kwargs["seed"] == "7" and max_model_len(kwargs) == 32_000
    args = _standin_parser().parse_args(_command(kwargs))
    assert (
        args.compilation_config == {"level": 3, "cudagraph_capture_sizes": [1, 2, 4]}
        and args.seed == 7
    )


def test_a_json_object_and_yaml_and_json_files(tmp_path):
    as_json = '{"max-num-seqs": 256, "enable-prefix-caching": true, "enforce-eager": false, "hf-overrides": {"a": 1}}'
    expected = {
        "max-num-seqs": "256",
        "enable-prefix-caching": None,
        "no-enforce-eager": None,
        "hf-overrides": '{"a":1}',
    }
    assert parse_server_kwargs(as_json) == expected
    yaml_file = tmp_path / "server.yaml"
    yaml_file.write_text(
        "max-num-seqs: 256\nenable-prefix-caching: true\nenforce-eager: false\nhf-overrides:\n  a: 1\n"
    )
    json_file = tmp_path / "server.json"
    json_file.write_text(as_json)
    assert parse_server_kwargs(str(yaml_file)) == expected == parse_server_kwargs(f"@{json_file}")
    args = _standin_parser().parse_args(_command(expected))
    assert (
        args.max_num_seqs == 256
        and args.enable_prefix_caching is True
        and args.enforce_eager is False
    )


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unbalanced"):
        parse_server_kwargs('compilation-config={"level": 3')
    with pytest.raises(ValueError, match="bad vLLM server flag name"):
        parse_server_kwargs("max model len=3")
    with pytest.raises(ValueError, match="cannot read"):
        parse_server_kwargs(f"@{tmp_path / 'missing.yaml'}")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        parse_server_kwargs(str(tmp_path / "list.yaml"))


def test_human_readable_lengths_as_vllm_reads_them():
    assert [human_readable_int(v) for v in ("4096", "32k", "32K", "1.5k", "auto", "-1")] == [
        4096,
        32000,
        32768,
        1500,
        None,
        None,
    ]
    assert split_top_level("a=1,b=[1,2],c='x,y'") == ["a=1", "b=[1,2]", "c='x,y'"]


def test_the_command_line_flag_reaches_the_stage_config():
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(
        [
            "--translator=vllm",
            "--model=/models/qwen",
            '--vllm_server_kwargs=enable-prefix-caching,max-model-len=4096,limit-mm-per-prompt={"image": 0}',
        ]
    )
    cfg = run_config_from_options(options)
    assert dict(cfg.vllm_server_kwargs) == {
        "enable-prefix-caching": None,
        "max-model-len": "4096",
        "limit-mm-per-prompt": '{"image": 0}',
    }
    assert json.loads(dict(cfg.vllm_server_kwargs)["limit-mm-per-prompt"]) == {"image": 0}
    assert options.view_as(CodeTransOptions).openai_api_key_env == "OPENAI_API_KEY"
