"""Compiled decoder layers vs eager ones in the train step, one run.

    python experiments/bench/compile_layers.py                     # SmolLM2-135M, 48 samples, CPU
    python experiments/bench/compile_layers.py --batch-size 2      # the default's batches of 2 rows
    python experiments/bench/compile_layers.py --model tiny --samples 16   # a smoke test

Both sides train the same prompt-shared rows (length-grouped batches, bf16 autocast where the CPU has
native bf16, else fp32, AdamW) with the same LoRA model and ``LoRAModule`` loss; ours with every decoder
layer under ``torch.compile`` (``training.compile=true``, :mod:`gpt4tools.training.compilation`), the
baseline with the same layers run eagerly (``torch.compiler.set_stance("force_eager")``). The first
compiled step, which compiles, is timed on its own. Before timing, one fp32 batch gives the loss
difference and the largest relative gradient difference between the two (rounding only). The two sides
alternate in halves so that load from other processes hits both alike. Prints samples/s of each side and
the ratio.
"""

from __future__ import annotations

import torch
from prompt_sharing import alternate_halves, lora_step_setup, print_speed, row_args, train_steps

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)


def main() -> None:
    args = row_args(__doc__.splitlines()[0])
    picked, batches, module, params = lora_step_setup(args, compile_layers=True)

    def loss_and_grads(eager: bool) -> tuple[float, list[torch.Tensor]]:
        module.model.zero_grad()
        with torch.compiler.set_stance("force_eager" if eager else "default"):
            loss, _ = module.loss_and_count(batches[0])
            loss.backward()
        return loss.item(), [p.grad.clone() for p in params]

    (eager_loss, eager_grads), (compiled_loss, compiled_grads) = loss_and_grads(True), loss_and_grads(False)
    module.model.zero_grad()
    worst = max(float((a - b).norm() / b.norm().clamp_min(1e-12)) for a, b in zip(compiled_grads, eager_grads))
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def run(selected, eager: bool) -> float:
        with torch.compiler.set_stance("force_eager" if eager else "default"):
            return train_steps(module, optimizer, selected)

    first_step = run(batches[:1], eager=False)  # compiles the training graphs (the fp32 check compiled its own)
    run(batches[:1], eager=True)
    seconds = alternate_halves({"compiled": batches, "eager": batches}, lambda half, name: run(half, name == "eager"))
    print_speed("compiled layers", args, sum(r.num_samples for r in picked), len(picked),
                f"fp32, one batch: |loss difference| {abs(eager_loss - compiled_loss):.2e}, largest relative gradient "
                f"difference {worst:.2e}\nfirst compiled step (compiles, or loads the compiler's disk cache): "
                f"{first_step:.1f} s", seconds, "eager", "compiled")

if __name__ == "__main__":
    main()
