"""Why chains stop early: can the model tell, after one observation, whether the request needs another tool?

    python experiments/chain_decision_probe.py                               # base model probes only
    python experiments/chain_decision_probe.py --adapter outputs/train/<run>/adapter

Takes the samples whose prompt holds exactly one observation: the next step is either the chain's
second tool (``Yes``; e.g. pose detection done, now generate from the pose) or the closing answer
(``No``; a single-tool request). For each, the prompt is run up to ``Thought: Do I need to use a tool?``.

1. Linear probes on the frozen base: per layer, an L2-regularised logistic regression from the hidden
   state at that position to Yes/No, fitted on training samples and scored on val_seen. High
   accuracy means the distinction is already present in the base model's features.
2. With ``--adapter``: the tuned model's logit gap ``logit(" Yes") - logit(" No")`` at that position,
   averaged per class. Equal means per class mean that the model has not learned the distinction.
"""

from __future__ import annotations

import argparse
import logging

import torch

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)
from gpt4tools.prompt import get_chat_template

DECISION = "Thought: Do I need to use a tool?"


def one_observation_items(path: str, limit: int) -> list[dict]:
    """Samples whose prompt ends after exactly one tool observation."""
    from gpt4tools.training.samples import read_samples

    marker = "Let's think step by step."
    return [x for x in read_samples(path) if x["instruction"].split(marker)[-1].count("Observation:") == 1][:limit]


@torch.no_grad()
def decision_states(model, tokenizer, template, items: list[dict]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(hidden states per layer at the decision position [n, layers, dim], labels [n], logits there [n, vocab])."""
    states, labels, logits = [], [], []
    for item in items:
        text = template.render_prompt(item["instruction"], item.get("input", "")) + DECISION
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids.to(model.device)
        out = model(ids, output_hidden_states=True)
        states.append(torch.stack([h[0, -1].float().cpu() for h in out.hidden_states]))
        logits.append(out.logits[0, -1].float().cpu())
        labels.append(float("? Yes" in item["output"]))
    return torch.stack(states), torch.tensor(labels), torch.stack(logits)


def probe_accuracy(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor) -> float:
    """Held-out accuracy of an L2-regularised logistic regression (standardised features, LBFGS)."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-5
    a, b = (train_x - mean) / std, (test_x - mean) / std
    w = torch.zeros(a.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, bias], max_iter=200)

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w + bias, train_y) + 1e-2 * (w * w).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((b @ w + bias > 0).float() == test_y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model name")
    parser.add_argument("--adapter", default=None, help="a tuned adapter folder to measure too")
    parser.add_argument("--train-limit", type=int, default=240)
    parser.add_argument("--val-limit", type=int, default=80)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from gpt4tools.data import ensure_dataset
    from gpt4tools.inference import load_for_inference
    from gpt4tools.utils.config import compose

    cfg = compose("train", [f"model={args.model}"])
    files = ensure_dataset(cfg)
    train_items = one_observation_items(str(files["train"]), args.train_limit)
    val_items = one_observation_items(str(files["val_seen"]), args.val_limit)
    template = get_chat_template(cfg.model.chat_template)

    model, tokenizer = load_for_inference(cfg.model, dtype="auto")
    train_x, train_y, _ = decision_states(model, tokenizer, template, train_items)
    val_x, val_y, _ = decision_states(model, tokenizer, template, val_items)
    print(f"{len(train_items)} training and {len(val_items)} val_seen samples after one observation; "
          f"next step is another tool in {val_y.mean():.0%} of val_seen")
    print("linear probe on the frozen base (val_seen accuracy per layer):")
    layers = train_x.shape[1]
    for layer in range(0, layers, max(1, layers // 6)):
        acc = probe_accuracy(train_x[:, layer], train_y, val_x[:, layer], val_y)
        print(f"  layer {layer:3d}: {acc:.1%}")

    if args.adapter:
        tuned, _ = load_for_inference(cfg.model, adapter=args.adapter, dtype="auto")
        _, labels, logits = decision_states(tuned, tokenizer, template, val_items)
        yes = tokenizer.encode(" Yes", add_special_tokens=False)[0]
        no = tokenizer.encode(" No", add_special_tokens=False)[0]
        gap = logits[:, yes] - logits[:, no]
        print(f"tuned model {args.adapter}: logit(Yes) - logit(No) at the decision, val_seen mean "
              f"{gap[labels == 1].mean():+.2f} where another tool follows, {gap[labels == 0].mean():+.2f} where the "
              f"chain ends; answers Yes on {(gap[labels == 1] > 0).float().mean():.0%} and "
              f"{(gap[labels == 0] > 0).float().mean():.0%} of them")


if __name__ == "__main__":
    main()
