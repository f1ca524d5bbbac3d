"""Frozen-prompt steps vs full backward in the train step, one run.

    python experiments/bench/frozen_prompt.py                     # SmolLM2-135M, 48 samples, CPU
    python experiments/bench/frozen_prompt.py --model tiny --samples 16   # seconds, a smoke test

Both sides train the same prompt-shared rows (length-grouped batches of 4, bf16 autocast where the CPU
has native bf16, else fp32, AdamW) with the same LoRA model and ``LoRAModule`` loss; ours with
``frozen_prompt`` (the prompt part under ``torch.no_grad``, backward through the target part only:
``training.frozen_prompt=true``), the baseline with the full backward of the default step. The two sides
alternate in halves so that load from other processes hits both alike. Before timing, one fp32 batch
gives the loss difference (zero: the forward is the same) and the cosine between the two gradients
(below 1: the frozen step drops the prompt's share of the gradient). Prints samples/s of each side and
the ratio.
"""

from __future__ import annotations

import torch
from prompt_sharing import alternate_halves, lora_step_setup, print_speed, row_args, train_steps

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)


def main() -> None:
    args = row_args(__doc__.splitlines()[0])
    picked, batches, module, params = lora_step_setup(args)
    grads, losses = [], []
    for frozen in (False, True):
        module.model.zero_grad()
        loss, _ = module.loss_and_count(batches[0], frozen_prompt=frozen)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in params]))
    module.model.zero_grad()
    cosine = float(torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0))
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def run(selected, frozen: bool) -> float:
        return train_steps(module, optimizer, selected, frozen_prompt=frozen)

    run(batches[:1], True)  # warm-up
    seconds = alternate_halves({"frozen": batches, "full": batches}, lambda half, name: run(half, name == "frozen"))
    print_speed("frozen prompt", args, sum(r.num_samples for r in picked), len(picked),
                f"fp32, one batch: |loss difference| {abs(losses[0] - losses[1]):.2e}, gradient cosine {cosine:.3f}",
                seconds, "full", "frozen")

if __name__ == "__main__":
    main()
