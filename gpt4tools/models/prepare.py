"""Prepare the offline default backbone once: ``python -m gpt4tools.models.prepare`` (run by ``make setup``)."""

import logging

from gpt4tools.models.smollm2 import converted_model_dir, converted_tokenizer_dir

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger(__name__).info("tokenizer: %s", converted_tokenizer_dir())
    logging.getLogger(__name__).info("SmolLM2-135M-Instruct: %s", converted_model_dir())
