"""Write randomised compat-parity cases: an eval file and original-format predictions covering every rule.

    python eval/make_compat_cases.py eval/fixtures/compat_parity --n 400 --seed 0

Predictions are mutations of the gt output (right answer, wrong tool, wrong/missing/extra arguments,
commas inside texts, path changes, a hallucinated observation and next step, a trailing ``No``, case
changes, garbage, missing lines...), each preceded by the instruction as the original's inference
writes it. The expected numbers in ``expected.json`` next to them were recorded by running the
original ``eval/evaluate_result.py`` (EvalTools, pycocoevalcap 1.2) on these two files.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from gpt4tools.catalog import CATALOG, format_action_input
from gpt4tools.prompt import final_step, random_image_name, tool_step

WORDS = "a the dog cat red blue car on of sofa man woman tree big small sky with and , picture".split()


def _text(rng: random.Random, lo: int = 1, hi: int = 6) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).replace(" ,", ",")


def _gt(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.2:
        return "", final_step(_text(rng, 2, 8))
    spec = rng.choice(list(CATALOG.values()))
    args = []
    for kind in spec.args:
        if kind.value == "image":
            args.append(random_image_name(rng))
        elif kind.value == "box":
            args.append("[{}, {}, {}, {}]".format(*(rng.randint(0, 500) for _ in range(4))))
        else:
            args.append(_text(rng))
    return spec.name, tool_step(spec.name, format_action_input(args))


def _mutate(rng: random.Random, gt: str, tool: str) -> str:
    lines = gt.rstrip("\n").split("\n")
    r = rng.random()
    if r < 0.15:
        return gt
    if r < 0.25:
        return gt + " " + random_image_name(rng) + "\n" + final_step(_text(rng))  # hallucinated observation + No
    if r < 0.32:
        return gt + " x\n" + gt  # a second tool call
    if r < 0.40 and tool:
        other = rng.choice([s.name for s in CATALOG.values() if s.name != tool])
        return gt.replace(f"Action: {tool}", f"Action: {other}")
    if r < 0.55 and tool:
        head, _, rest = gt.partition("Action Input: ")
        arg, _, tail = rest.partition("\n")
        parts = arg.split(", ")
        choice = rng.random()
        if choice < 0.3:
            parts = [p if ".png" in p else _text(rng) for p in parts]
        elif choice < 0.5:
            parts = [p.replace(".png", "") for p in parts]
        elif choice < 0.7:
            parts.append(_text(rng))
        elif choice < 0.85:
            parts = [random_image_name(rng) if ".png" in p else p + ", " + _text(rng, 1, 2) for p in parts]
        else:
            parts = [p.upper() for p in parts]
        return head + "Action Input: " + ", ".join(parts) + "\n" + tail
    if r < 0.62:
        return "\n".join(ln for ln in lines if not ln.startswith(rng.choice(["Thought", "Action:", "Action Input", "AI"])))
    if r < 0.70:
        return gt.replace("? Yes", "? No").replace("? No\nAI", "? Yes\nAI") if rng.random() < 0.5 else gt.lower()
    if r < 0.78:
        return final_step(_text(rng))
    if r < 0.84:
        return tool_step(rng.choice([s.name for s in CATALOG.values()]), random_image_name(rng))
    if r < 0.90:
        return _text(rng, 0, 12)
    if r < 0.95:
        return "Thought: Do I need to use a tool? No\n" + _text(rng)
    return "  \n" + gt + "\nObservation: " + _text(rng) + "\nThought: Do I need to use a tool? No\nAI: ok\n"


def make_cases(n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """(eval items, original-format predictions): some gt items lack a prediction, some predictions a gt."""
    rng = random.Random(seed)
    items, preds = [], []
    for i in range(n):
        tool, gt = _gt(rng)
        inst = f"New input: {_text(rng, 3, 12)}\nGPT4Tools needs to use tools. Let's think step by step.\n"
        items.append({"id": i, "instruction": inst, "input": "", "output": gt})
        if rng.random() < 0.05:
            continue
        out = inst + _mutate(rng, gt, tool)
        preds.append({"id": i, "output": [out] if rng.random() < 0.1 else out})
    preds.append({"id": n + 5, "output": "no gt for this one"})
    return items, preds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    items, preds = make_cases(args.n, args.seed)
    (out / "gt.json").write_text(json.dumps(items, indent=0))
    (out / "predictions.json").write_text(json.dumps(preds, indent=0))


if __name__ == "__main__":
    main()
