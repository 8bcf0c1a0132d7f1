"""STAND-IN package for vLLM (tests only): see ``vllm.entrypoints.openai.api_server`` here."""
