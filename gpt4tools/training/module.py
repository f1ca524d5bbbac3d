"""The LightningModule: a peft-wrapped causal LM trained on assistant targets only.

One forward -> loss path serves every batch (the row contract of :mod:`gpt4tools.training.rows`):
the decoder body runs over the rows, and the LM head and the cross-entropy are applied only at
positions that predict a target (``target_only_logits``): in GPT4Tools data ~35 of ~770 tokens carry
loss, and the vocabulary projection plus a 49K-class softmax at every position would otherwise dominate
a small model's step. The loss is identical to the full one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gpt4tools.models.parts import split_body_head
from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.compilation import compile_decoder_layers
from gpt4tools.training.rows import masks_for_layers
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)

OptimizerFactory = Callable[..., torch.optim.Optimizer]
"""Builds the optimizer from the trainable parameters (``optimizer`` config node, ``_partial_: true``)."""
SchedulerFactory = Callable[..., Any]
"""Builds the schedule from the optimizer and ``num_training_steps`` (``scheduler`` config node)."""


def batch_samples(batch: dict[str, torch.Tensor]) -> int:
    """Training samples in a batch (a row can hold several)."""
    return int(batch["num_samples"])


class LoRAModule(pl.LightningModule):
    """Trains the LoRA weights of ``model`` (a peft model); checkpoints hold only trainable weights.

    Args:
        model: the peft-wrapped causal LM.
        optimizer: builds the optimizer from the trainable parameters (e.g. a partial ``torch.optim.AdamW``).
        scheduler: builds the per-step schedule from the optimizer and ``num_training_steps``
            (:func:`gpt4tools.training.schedules.warmup_schedule`); None: a constant learning rate.
        target_only_logits: compute the LM head and loss only at target positions (same loss, less work).
        compile_layers: ``torch.compile`` each decoder layer for the training steps
            (:mod:`gpt4tools.training.compilation`); validation runs them eagerly (a few batches do not
            repay a second compile for the no-gradient graph).
    """

    def __init__(self, model: torch.nn.Module, optimizer: OptimizerFactory, scheduler: SchedulerFactory | None = None,
                 target_only_logits: bool = True, compile_layers: bool = False) -> None:
        super().__init__()
        self.model = model
        self.compiled = compile_layers
        if compile_layers:
            compile_decoder_layers(model)  # raises when the model has no decoder layers to compile
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.strict_loading = False  # checkpoints carry only the trainable weights
        self._split = split_body_head(model) if target_only_logits else None
        if target_only_logits and self._split is None:
            log.warning("target_only_logits: %s has no plain body/head split; using the full forward",
                        type(model).__name__)
        self._t0: float | None = None
        self._pending_rng: dict[str, Any] | None = None
        self.throughput = {"tokens": 0, "nonpad_tokens": 0, "samples": 0, "seconds": 0.0}

    # ----------------------------------------------------------------------------------- loss
    def loss_and_count(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over the batch's target tokens, and the number of target tokens."""
        mask = masks_for_layers(self.model.config, batch["attention_mask"], batch["position_ids"])
        inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"], "attention_mask": mask,
                  "use_cache": False}
        targets = batch["shift_labels"]
        keep = targets != IGNORE_INDEX
        logits = self._target_logits(inputs, keep)
        return F.cross_entropy(logits.float(), targets[keep]), int(keep.sum())

    def _target_logits(self, inputs: dict[str, Any], keep: torch.Tensor) -> torch.Tensor:
        """The logits at the positions ``keep`` marks: the head on those hidden states only when the model
        splits into body and head, else the full forward's."""
        if self._split is None:
            return self.model(**inputs).logits[keep]
        body, head = self._split
        return head(body(**inputs).last_hidden_state[keep])

    # ------------------------------------------------------------------------------- steps
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, count = self.loss_and_count(batch)
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=max(count, 1))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self._t0 is None:
            return
        seconds = max(time.perf_counter() - self._t0, 1e-9)
        tokens, nonpad, samples = int(batch["input_ids"].numel()), int(batch["num_tokens"]), batch_samples(batch)
        for key, value in (("tokens", tokens), ("nonpad_tokens", nonpad), ("samples", samples), ("seconds", seconds)):
            self.throughput[key] += value
        self.log_dict({"train/tokens_per_s": tokens / seconds, "train/nonpad_tokens_per_s": nonpad / seconds,
                       "train/samples_per_s": samples / seconds}, on_step=True, batch_size=samples)
        optimizers = self.optimizers(use_pl_optimizer=False)
        lr = (optimizers[0] if isinstance(optimizers, list) else optimizers).param_groups[0]["lr"]
        self.log("train/lr", lr, on_step=True, prog_bar=True, batch_size=samples)

    def on_validation_start(self) -> None:
        if self.compiled:
            torch.compiler.set_stance("force_eager")

    def on_validation_end(self) -> None:
        if self.compiled:
            torch.compiler.set_stance("default")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, count = self.loss_and_count(batch)
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=max(count, 1))
        return loss

    # ------------------------------------------------------------------------- optimizers
    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory([p for p in self.model.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = self.scheduler_factory(optimizer, num_training_steps=total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------------------------------ checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The trainable (LoRA) weights under their LightningModule names."""
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in names}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in names}
        checkpoint["rng"] = {"torch": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        names = {n for n, p in self.named_parameters() if p.requires_grad}
        missing = names - set(checkpoint.get("state_dict", {}))
        if missing:
            raise KeyError(f"checkpoint lacks {len(missing)} trainable weights, e.g. {sorted(missing)[:3]}; "
                           "was it written for another model or LoRA config?")
        self._pending_rng = checkpoint.get("rng")

    def on_train_start(self) -> None:
        if self._pending_rng:  # dropout masks continue exactly where the interrupted run stopped
            torch.set_rng_state(self._pending_rng["torch"])
            if self._pending_rng.get("cuda") is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(self._pending_rng["cuda"])
            self._pending_rng = None
