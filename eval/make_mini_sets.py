"""Write two small hand-made eval sets in the official format (offline demos, tests, the benchmark).

    python eval/make_mini_sets.py eval/fixtures

``mini_val_seen.json``: one item per seen tool plus no-tool items; ``mini_test_unseen.json``: two
items per unseen tool. Prompts are built with the project's prompt module exactly as training data
is (2-5 tools shown, the right one among them, an uploaded image in the history).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from gpt4tools.catalog import CATALOG, ArgKind, format_action_input, select_tools
from gpt4tools.prompt import final_step, image_upload_turn, random_image_name, render_prompt, tool_step

REQUESTS = {
    "Text2Box": ("Where is the {obj} in the picture?", ["{img}", "{obj}"]),
    "Segmenting": ("Segment everything in this image.", ["{img}"]),
    "ImageCaptioning": ("What is shown in this photo?", ["{img}"]),
    "Text2Image": ("Draw a picture of a {obj} on a beach, with boats, gulls and a lighthouse.",
                   ["a {obj} on a beach, with boats, gulls and a lighthouse"]),
    "Image2Canny": ("Detect the edges of this image.", ["{img}"]),
    "CannyText2Image": ("Turn this edge image into a real photo of a {obj}.", ["{img}", "a real photo of a {obj}"]),
    "Image2Depth": ("Predict the depth map of the photo.", ["{img}"]),
    "DepthText2Image": ("Generate a {obj} from this depth map.", ["{img}", "a {obj}"]),
    "VisualQuestionAnswering": ("Is the {obj} red, blue, or green?", ["{img}", "is the {obj} red, blue, or green?"]),
    "InstructPix2Pix": ("Make it look like a watercolor painting.", ["{img}", "make it look like a watercolor painting"]),
    "Image2Scribble": ("Generate a sketch from this image.", ["{img}"]),
    "ScribbleText2Image": ("Make a real image of a {obj} from this sketch.", ["{img}", "a real image of a {obj}"]),
    "SegText2Image": ("Generate a new image of a {obj} from these segmentations.", ["{img}", "a {obj}"]),
    "Image2Pose": ("Detect the human pose in this image.", ["{img}"]),
    "PoseText2Image": ("Generate a dancer in a red dress from this pose.", ["{img}", "a dancer in a red dress"]),
    "Image2Hed": ("Detect the soft hed boundary of this image.", ["{img}"]),
    "HedText2Image": ("Generate a {obj} from this hed boundary image.", ["{img}", "a {obj}"]),
    "Image2Normal": ("Predict the normal map of this image.", ["{img}"]),
    "NormalText2Image": ("Generate a {obj} in the snow from this normal map.", ["{img}", "a {obj} in the snow"]),
    "Image2Line": ("Detect the straight lines in this picture.", ["{img}"]),
    "ObjectSegmenting": ("Segment the {obj} in the picture.", ["{img}", "{obj}"]),
    "ImageRemoving": ("Remove the {obj} from the photo.", ["{img}", "{obj}"]),
    "ImageReplacing": ("Replace the {obj} with a bicycle.", ["{img}", "{obj}", "bicycle"]),
    "ImageCropping": ("Crop the region [10, 20, 200, 240] out of the image.", ["{img}", "[10, 20, 200, 240]"]),
    "TextDetection": ("What does the text on the sign say?", ["{img}"]),
    "ObjectDetection": ("Detect all the objects in this image.", ["{img}"]),
    "LineText2Image": ("Generate a {obj} from this straight line image.", ["{img}", "a {obj}"]),
}
CHAT = ["Tell me a joke about cats.", "What is the capital of France?", "Write a haiku about rain."]
OBJECTS = ["dog", "cat", "car", "bench", "umbrella", "horse"]


def _item(rng: random.Random, idx: str, key: str | None, split: str) -> dict:
    img = random_image_name(rng)
    obj = rng.choice(OBJECTS)
    pool = select_tools("seen" if split == "seen" else "all")
    if key is None:
        shown = rng.sample(pool, rng.randint(2, 5))
        request, output = rng.choice(CHAT), final_step("Here is my answer.")
    else:
        spec = CATALOG[key]
        others = [t for t in pool if t.key != key]
        shown = [spec, *rng.sample(others, rng.randint(1, 4))]
        rng.shuffle(shown)
        text, args = REQUESTS[key]
        request = text.format(obj=obj)
        values = [a.format(img=img, obj=obj) for a in args]
        assert len(values) == spec.num_args and (spec.args[0] is not ArgKind.IMAGE or values[0] == img)
        output = tool_step(spec.name, format_action_input(values))
    history = image_upload_turn(img, f"A {obj} stands next to a tree on a sunny street.")
    return {"id": idx, "instruction": render_prompt(shown, request, history), "input": "", "output": output,
            "tool": key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen = [_item(rng, f"seen-{i}", t.key, "seen") for i, t in enumerate(select_tools("seen"))]
    seen += [_item(rng, f"seen-chat-{i}", None, "seen") for i in range(3)]
    unseen = [_item(rng, f"unseen-{i}", t.key, "unseen") for i, t in enumerate(select_tools("unseen") * 2)]
    (out / "mini_val_seen.json").write_text(json.dumps(seen, indent=1))
    (out / "mini_test_unseen.json").write_text(json.dumps(unseen, indent=1))


if __name__ == "__main__":
    main()
