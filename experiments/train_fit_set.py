"""Does the model fit its own training data? Writes training items as an eval set, to score like val_seen.

    python experiments/train_fit_set.py outputs/data/generated/<default>/train.json --out outputs/train_fit.json
    python evaluate.py adapter=outputs/train/<run>/adapter 'eval_sets=[outputs/train_fit.json]' plots=false

Keeps the first-step tool calls (no observation in the prompt, a tool in the target) of a training file,
shuffles them with a fixed seed, gives them ids and writes the first ``--limit``. About half of them were
trained on in a ``make demo`` run (it reaches ~740 of the 1600 samples), the rest were not: a low score
here means the run underfits, not that it fails to generalise.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from gpt4tools.react import is_tool_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_file")
    parser.add_argument("--out", required=True)
    parser.add_argument("--limit", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    items = json.loads(Path(args.train_file).read_text())
    first = [{"id": f"train_{i:05d}", **item} for i, item in enumerate(items)
             if is_tool_output(item["output"]) and "\nObservation:" not in item["instruction"].rsplit("\nNew input:", 1)[-1]]
    random.Random(args.seed).shuffle(first)
    Path(args.out).write_text(json.dumps(first[: args.limit], indent=1))
    print(f"{min(len(first), args.limit)} of {len(first)} first-step items -> {args.out}")


if __name__ == "__main__":
    main()
