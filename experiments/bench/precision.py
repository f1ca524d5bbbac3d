"""bf16 autocast vs fp32 in the train step on this CPU, one run: what ``${cpu_precision:}`` decides.

    python experiments/bench/precision.py                      # SmolLM2-135M, 8 samples, CPU
    python experiments/bench/precision.py --model tiny --samples 16   # a smoke test

Both sides train the same prompt-shared rows (length-grouped batches, eager layers, AdamW) with the same LoRA
model and ``LoRAModule`` loss: one under bf16 autocast (``precision=bf16-mixed``), one in fp32
(``precision=32-true``). On a CPU with AMX or AVX512-BF16 bf16 is the faster; on one without (AVX2 only) bf16
matrix products are emulated and fp32 wins by an order of magnitude or more, which is why fp32 is picked there.
The two sides alternate in halves so that load from other processes hits both alike. Prints what the CPU
offers, samples/s of each side, the ratio, and the precision picked here.
"""

from __future__ import annotations

import torch
from prompt_sharing import alternate_halves, lora_step_setup, print_speed, row_args, train_steps

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)
from gpt4tools.utils.machine import cpu_has_fast_bf16, cpu_precision


def main() -> None:
    args = row_args(__doc__.splitlines()[0], default_samples=8, default_batch_size=1)
    picked, batches, module, params = lora_step_setup(args)
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def run(selected, name: str) -> float:
        return train_steps(module, optimizer, selected, bf16=name == "bf16")

    run(batches[:1], "bf16")  # first steps pay one-time costs (allocations, kernel selection)
    run(batches[:1], "fp32")
    seconds = alternate_halves({"fp32": batches, "bf16": batches}, run)
    print_speed("bf16 autocast vs fp32", args, sum(r.num_samples for r in picked), len(picked),
                f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16 (AMX or AVX512-BF16): "
                f"{cpu_has_fast_bf16()}; trainer.precision here: {cpu_precision()}",
                seconds, "fp32", "bf16")


if __name__ == "__main__":
    main()
