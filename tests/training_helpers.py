"""Small GPT4Tools-format training files built from the catalog and the prompt module (for training tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from gpt4tools.catalog import ArgKind, select_tools
from gpt4tools.prompt import final_step, image_upload_turn, random_image_name, render_prompt, tool_step

_OBJECTS = ["dog", "cat", "red car", "bicycle", "man in a hat", "wooden table", "kite", "bus", "tree", "cup"]
_REQUESTS = {ArgKind.TEXT: "the {obj}", ArgKind.BOX: "[12, 40, 180, 220]"}


def make_items(n: int, seed: int = 0, split: str = "seen", negatives: float = 0.2) -> list[dict]:
    """``n`` samples in the original ``{instruction, input, output}`` format (plus id and tool)."""
    rng = random.Random(seed)
    tools = select_tools(split)
    items = []
    for i in range(n):
        image = random_image_name(rng)
        obj = rng.choice(_OBJECTS)
        caption = f"A photo of a {obj} next to a {rng.choice(_OBJECTS)} in a sunny park."
        shown = rng.sample(tools, rng.randint(2, min(5, len(tools))))
        history = image_upload_turn(image, caption)
        if rng.random() < negatives:
            question = f"What is a good name for a {obj}?"
            output, tool = final_step(f"A good name for a {obj} is Max."), None
        else:
            spec = shown[0]
            args = [image if k is ArgKind.IMAGE else _REQUESTS[k].format(obj=obj) for k in spec.args]
            question = f"Use the tool to process the {obj} in {image}."
            output, tool = tool_step(spec.name, ", ".join(args)), spec.name
        rng.shuffle(shown)
        items.append({"instruction": render_prompt(shown, question, history), "input": "", "output": output,
                      "id": i, "tool": tool})
    return items


def write_dataset(folder: Path, n_train: int = 48, n_val: int = 16, seed: int = 0) -> dict[str, Path]:
    """Write train/val_seen/test_unseen JSON files; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"train": make_items(n_train, seed), "val_seen": make_items(n_val, seed + 1),
             "test_unseen": make_items(n_val, seed + 2, split="unseen")}
    paths = {}
    for key, items in files.items():
        paths[key] = folder / f"{key}.json"
        paths[key].write_text(json.dumps(items))
    return paths


TINY_RECIPE = ("trainer.precision=32-true", "trainer.max_steps=-1", "batching.batch_size=4",
               "training.compile=false", "training.validate_before=false", "lora.lora_dropout=0.05",
               "checkpoint.every_n_train_steps=50", "checkpoint.adapter_every_n_steps=null")
"""The default recipe cut down for tests: one epoch of batches of 4 rows, eager fp32 on any CPU."""


def train_cfg(tmp_path: Path, *overrides: str, n_train: int = 48, n_val: int = 16):
    """The train config on the tiny model and small files under ``tmp_path`` (fast, no evaluation)."""
    from gpt4tools.utils.config import compose

    data = tmp_path / "data"
    if not (data / "train.json").is_file():
        write_dataset(data, n_train, n_val)
    return compose("train", [
        "model=tiny", f"data.train_file={data / 'train.json'}",
        f"data.val_seen_file={data / 'val_seen.json'}", f"data.test_unseen_file={data / 'test_unseen.json'}",
        f"paths.output_root={tmp_path / 'outputs'}", "eval.enabled=false", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false", "batching.max_length=1024", *TINY_RECIPE, *overrides,
    ], output_dir=str(tmp_path / "run"))
