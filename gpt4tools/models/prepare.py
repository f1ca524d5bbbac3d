"""Prepare packaged backbones once: ``python -m gpt4tools.models.prepare [smollm2 gemma3_270m ...]``.

With no argument it converts the offline default (SmolLM2-135M-Instruct), as ``make setup`` does.
"""

import logging
import sys

from gpt4tools.models.packaged import DEFAULT, converted_model_dir, converted_tokenizer_dir

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger(__name__)
    log.info("tokenizer: %s", converted_tokenizer_dir())
    for key in sys.argv[1:] or [DEFAULT]:
        log.info("%s: %s", key, converted_model_dir(key))
