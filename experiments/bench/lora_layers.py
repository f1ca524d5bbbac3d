"""LoRA on the top decoder layers only vs on every layer in the train step, one run.

    python experiments/bench/lora_layers.py --batch-size 1 --top 15   # SmolLM2-135M (30 layers), 48 samples, CPU
    python experiments/bench/lora_layers.py --model tiny --samples 16 --top 1   # a smoke test

Both sides train the same prompt-shared rows (length-grouped batches, bf16 autocast where the CPU has native
bf16, else fp32, AdamW) with the ``LoRAModule`` loss; ours with adapters on the top ``--top`` decoder layers
only (peft's ``layers_to_transform``; the top 10 in training: ``python train.py
'+lora.layers_to_transform=[20,21,22,23,24,25,26,27,28,29]'``), the baseline
with adapters on every layer, as the default trains. Below the lowest adapted layer nothing needs a gradient,
so autograd records nothing there and the backward pass stops at that layer; the forward pass is the same.
Before timing, one fp32 batch checks the cut: with the baseline's lower adapters zeroed and its upper ones
copied into ours, the two give the same loss and the same gradients for the upper adapters. The two sides
alternate in halves so that load from other processes hits both alike. Prints samples/s of each side and the
ratio.
"""

from __future__ import annotations

import re

import torch
from prompt_sharing import alternate_halves, lora_step_setup, print_speed, row_args, train_steps

import gpt4tools  # noqa: F401  (library work-arounds before torch-based imports)

LAYER = re.compile(r"\.layers\.(\d+)\.")


def _trainable(module) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in module.model.named_parameters() if p.requires_grad}


def _loss_and_grads(module, batch) -> tuple[float, dict[str, torch.Tensor]]:
    module.model.zero_grad()
    loss, _ = module.loss_and_count(batch)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in _trainable(module).items()}
    module.model.zero_grad()
    return loss.item(), grads


def check_cut(every, top, batch) -> tuple[float, float]:
    """(|loss difference|, largest relative gradient difference of the upper adapters) between the every-layer
    module with its lower adapters' B zeroed and the top-layer module holding the same upper adapters."""
    every_params, top_params = _trainable(every), _trainable(top)
    lower = {name: p.detach().clone() for name, p in every_params.items() if name not in top_params}
    with torch.no_grad():
        for name in lower:
            if "lora_B" in name:
                every_params[name].zero_()
        for name, p in top_params.items():
            p.copy_(every_params[name])
    (every_loss, every_grads), (top_loss, top_grads) = _loss_and_grads(every, batch), _loss_and_grads(top, batch)
    with torch.no_grad():
        for name, value in lower.items():
            every_params[name].copy_(value)
    worst = max(float((top_grads[n] - every_grads[n]).norm() / every_grads[n].norm().clamp_min(1e-12)) for n in top_grads)
    return abs(every_loss - top_loss), worst


def main() -> None:
    args = row_args(__doc__.splitlines()[0], add_arguments=lambda parser: parser.add_argument(
        "--top", type=int, default=None, help="adapted top layers (default: half the decoder layers)"))
    picked, batches, every, every_params = lora_step_setup(args)
    num_layers = int(every.model.get_base_model().config.num_hidden_layers)
    top_layers = args.top if args.top is not None else max(1, num_layers // 2)
    if not 0 < top_layers <= num_layers:
        raise SystemExit(f"--top {top_layers}: the model has {num_layers} decoder layers")
    layers = list(range(num_layers - top_layers, num_layers))
    _, _, top, top_params = lora_step_setup(args, [f"+lora.layers_to_transform=[{','.join(map(str, layers))}]"])
    adapted = sorted({int(m.group(1)) for name in _trainable(top) if (m := LAYER.search(name))})
    if adapted != layers:
        raise RuntimeError(f"adapters landed on layers {adapted}, not {layers}")
    loss_diff, grad_diff = check_cut(every, top, batches[0])
    optimizers = {"every": torch.optim.AdamW(every_params, lr=1e-4), "top": torch.optim.AdamW(top_params, lr=1e-4)}
    modules = {"every": every, "top": top}

    def run(selected, name: str) -> float:
        return train_steps(modules[name], optimizers[name], selected)

    run(batches[:1], "every")  # warm-up
    run(batches[:1], "top")
    seconds = alternate_halves({"top": batches, "every": batches}, run)
    print_speed(f"LoRA on the top {top_layers} of {num_layers} layers", args,
                sum(r.num_samples for r in picked), len(picked),
                f"trainable LoRA parameters: every layer {sum(p.numel() for p in every_params)}, top layers "
                f"{sum(p.numel() for p in top_params)}\nfp32, one batch, lower adapters zeroed: |loss difference| "
                f"{loss_diff:.2e}, largest relative gradient difference of the upper adapters {grad_diff:.2e}",
                seconds, "every", "top")


if __name__ == "__main__":
    main()
