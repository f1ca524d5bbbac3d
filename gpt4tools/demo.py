"""A first look at the framework: load the offline default backbone, render a GPT4Tools prompt, generate.

``python -m gpt4tools.demo`` (what ``make demo`` runs until training is wired in).
"""

from __future__ import annotations

import logging
import random

import torch

from gpt4tools.catalog import select_tools
from gpt4tools.models import load_model, load_tokenizer
from gpt4tools.prompt import get_chat_template, image_upload_turn, render_prompt
from gpt4tools.utils.config import compose

log = logging.getLogger("gpt4tools.demo")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = compose("train")
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model, tokenizer).eval()
    rng = random.Random(0)
    tools = rng.sample(select_tools("seen"), 4)
    history = image_upload_turn("image/abcdefgh.png", "A dog sits on a red sofa next to a lamp.")
    instruction = render_prompt(tools, "Segment the dog in the picture.", history)
    template = get_chat_template(cfg.model.chat_template)
    prompt = template.render_prompt(instruction)
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=48, do_sample=False, stop_strings=template.stop_strings(),
                             tokenizer=tokenizer)
    reply = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    log.info("Tools shown: %s", ", ".join(t.name for t in tools))
    log.info("Prompt: %d tokens; zero-shot reply of %s:\n%s", ids["input_ids"].shape[1], cfg.model.name, reply)


if __name__ == "__main__":
    main()
