"""The LightningModule: a peft-wrapped causal LM trained on assistant targets only.

The fast path (``target_only_logits``) runs the decoder body for hidden states and applies the
LM head and the cross-entropy only at positions whose next token is a target: in GPT4Tools data
~35 of ~770 tokens carry loss, and the vocabulary projection plus a 49K-class softmax at every
position would otherwise dominate a small model's step. The loss is identical to the full one.
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gpt4tools.models.parts import split_body_head
from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.compilation import compile_decoder_layers
from gpt4tools.training.prompt_cache import layer_numbers_unspecialized, prompt_cache, split_prompt
from gpt4tools.training.sharing import masks_for_layers
from gpt4tools.utils.logging import get_logger

log = get_logger(__name__)


def token_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy over target tokens: the mean, or with ``weights`` the weighted mean."""
    if weights is None:
        return F.cross_entropy(logits, targets)
    losses = F.cross_entropy(logits, targets, reduction="none")
    return (losses * weights).sum() / weights.sum().clamp_min(1e-8)


def batch_samples(batch: dict[str, torch.Tensor]) -> int:
    """Training samples in a batch (a packed row can hold several)."""
    return int(batch["num_samples"]) if "num_samples" in batch else int(batch["input_ids"].shape[0])


class LoRAModule(pl.LightningModule):
    """Trains the LoRA weights of ``model`` (a peft model); checkpoints hold only trainable weights.

    Args:
        model: the peft-wrapped causal LM.
        optimizer: ``{name: adamw|adamw_8bit|paged_adamw_8bit, lr, weight_decay, betas, eps}``.
        scheduler: ``{name: cosine|linear|constant, warmup_ratio, warmup_steps, time_budget}``; with
            ``time_budget`` the schedule runs at the pace of whichever is further along, the optimizer
            steps or the time used of ``trainer.max_time``, so a run the time cap stops still completes
            its warm-up and decay.
        target_only_logits: compute the LM head and loss only at target positions.
        frozen_prompt: training steps run the prompt without gradients and backpropagate through the target
            part only (:mod:`gpt4tools.training.prompt_cache`; same loss, truncated gradient). Validation
            is unaffected.
        pad_token_id: the id frozen-prompt steps pad their two parts with.
        compile_layers: ``torch.compile`` each decoder layer for the training steps
            (:mod:`gpt4tools.training.compilation`); validation runs them eagerly (a few batches do not
            repay a second compile for the no-gradient graph).
    """

    def __init__(self, model: torch.nn.Module, optimizer: dict[str, Any], scheduler: dict[str, Any],
                 target_only_logits: bool = True, frozen_prompt: bool = False, pad_token_id: int = 0,
                 compile_layers: bool = False) -> None:
        super().__init__()
        self.model = model
        self.compiled = compile_layers
        if compile_layers:
            compile_decoder_layers(model)  # raises when the model has no decoder layers to compile
        self.frozen_prompt = frozen_prompt
        self.pad_token_id = pad_token_id
        self.optimizer_cfg = dict(optimizer)
        self.scheduler_cfg = dict(scheduler)
        self.strict_loading = False  # checkpoints carry only the trainable weights
        self._split = split_body_head(model) if target_only_logits else None
        if target_only_logits and self._split is None:
            log.warning("target_only_logits: %s has no plain body/head split; using the full forward",
                        type(model).__name__)
        self._t0: float | None = None
        self._pending_rng: dict[str, Any] | None = None
        self._time_fraction = 0.0  # of trainer.max_time used, for scheduler.time_budget
        self.throughput = {"tokens": 0, "nonpad_tokens": 0, "samples": 0, "seconds": 0.0}

    # ----------------------------------------------------------------------------------- loss
    def loss_and_count(self, batch: dict[str, torch.Tensor], frozen_prompt: bool = False) -> tuple[torch.Tensor, int]:
        """Mean cross-entropy over target tokens of the batch, and the number of target tokens.

        Batches give either ``labels`` (the usual shift: position t predicts label t+1) or
        ``shift_labels`` (the label each position predicts, as prompt-shared rows do); ``label_weights`` /
        ``shift_weights`` beside them make the mean a weighted one. With ``frozen_prompt`` the prompt part
        runs without gradients first (same loss, truncated gradient).
        """
        if frozen_prompt:
            return self._frozen_prompt_loss(batch)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
        if "attention_mask" in inputs:
            inputs["attention_mask"] = masks_for_layers(self.model.config, inputs["attention_mask"],
                                                        inputs.get("position_ids"))
        shifted = "shift_labels" in batch
        if shifted:
            targets, weights = batch["shift_labels"], batch.get("shift_weights")
        else:
            targets, weights = batch["labels"][:, 1:], batch.get("label_weights")
            weights = None if weights is None else weights[:, 1:]
        keep = targets != IGNORE_INDEX
        count = int(keep.sum())
        kept_weights = None if weights is None else weights[keep]
        if self._split is None:
            logits = self.model(**inputs, use_cache=False).logits
            logits = logits if shifted else logits[:, :-1]
            return token_loss(logits[keep].float(), targets[keep], kept_weights), count
        body, head = self._split
        hidden = body(**inputs, use_cache=False).last_hidden_state
        hidden = hidden if shifted else hidden[:, :-1]
        logits = head(hidden[keep]).float()
        return token_loss(logits, targets[keep], kept_weights), count

    def _frozen_prompt_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        part = split_prompt(batch, self.pad_token_id)
        config = self.model.config
        keep = part.grad_targets != IGNORE_INDEX
        count = int(keep.sum())
        net = self._split[0] if self._split is not None else self.model
        # A plain cache keeps every key (a config-built one would trim sliding-window layers to the window, which
        # the reordered columns do not allow); the masks apply the windows from the true positions instead.
        cache = prompt_cache()
        key_positions = torch.cat([part.cached_positions, part.grad_positions], dim=1)
        with layer_numbers_unspecialized():
            with torch.no_grad():
                net(input_ids=part.cached_ids, position_ids=part.cached_positions, past_key_values=cache,
                    attention_mask=masks_for_layers(config, part.cached_mask, part.cached_positions), use_cache=True)
            out = net(input_ids=part.grad_ids, position_ids=part.grad_positions, past_key_values=cache, use_cache=True,
                      attention_mask=masks_for_layers(config, part.grad_mask, part.grad_positions, key_positions))
        weights = None if part.grad_weights is None else part.grad_weights[keep]
        if self._split is None:
            return token_loss(out.logits[keep].float(), part.grad_targets[keep], weights), count
        return token_loss(self._split[1](out.last_hidden_state[keep]).float(), part.grad_targets[keep], weights), count

    # ------------------------------------------------------------------------------- steps
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._t0 = time.perf_counter()
        if self.scheduler_cfg.get("time_budget"):
            used, budget = self._time_used()
            # every rank must set the same learning rate: rank 0's clock decides
            self._time_fraction = float(self.trainer.strategy.broadcast(used / budget))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, count = self.loss_and_count(batch, frozen_prompt=self.frozen_prompt)
        self.log("train/loss", loss, on_step=True, prog_bar=True, batch_size=max(count, 1))
        return loss

    def on_train_batch_end(self, outputs: Any, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        if self._t0 is None:
            return
        seconds = max(time.perf_counter() - self._t0, 1e-9)
        tokens = int(batch["input_ids"].numel())
        nonpad = int(batch["num_tokens"]) if "num_tokens" in batch else tokens
        samples = batch_samples(batch)
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
    def configure_optimizers(self):
        opt = self.optimizer_cfg
        name = str(opt.get("name", "adamw"))
        kwargs = {"lr": float(opt["lr"]), "weight_decay": float(opt.get("weight_decay", 0.0)),
                  "betas": tuple(opt.get("betas", (0.9, 0.999))), "eps": float(opt.get("eps", 1e-8))}
        if name == "adamw":
            cls = torch.optim.AdamW
        elif name in ("adamw_8bit", "paged_adamw_8bit"):
            import bitsandbytes as bnb

            cls = bnb.optim.AdamW8bit if name == "adamw_8bit" else bnb.optim.PagedAdamW8bit
        else:
            raise ValueError(f"optimizer.name={name!r}: choose adamw, adamw_8bit or paged_adamw_8bit")
        ratio = opt.get("loraplus_lr_ratio")
        if ratio:
            from peft.optimizers import create_loraplus_optimizer

            lr = kwargs.pop("lr")
            optimizer = create_loraplus_optimizer(self.model, cls, lr=lr, loraplus_lr_ratio=float(ratio), **kwargs)
            log.info("LoRA+: lr %.2g for A, %.2g for B", lr, lr * float(ratio))
        else:
            optimizer = cls([p for p in self.model.parameters() if p.requires_grad], **kwargs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self._scheduler(optimizer), "interval": "step"}}

    def _scheduler(self, optimizer: torch.optim.Optimizer):
        from transformers import get_scheduler

        total = max(int(self.trainer.estimated_stepping_batches), 1)
        sched = self.scheduler_cfg
        warmup = sched.get("warmup_steps")
        warmup = int(warmup) if warmup is not None else int(round(float(sched.get("warmup_ratio", 0.0)) * total))
        name = str(sched.get("name", "cosine"))
        if name not in ("cosine", "linear", "constant_with_warmup", "constant"):
            raise ValueError(f"scheduler.name={name!r}: choose cosine, linear, constant_with_warmup or constant")
        scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total)
        if not sched.get("time_budget"):
            log.info("scheduler %s: %d optimizer steps, %d warmup", name, total, warmup)
            return scheduler
        _, budget = self._time_used()
        log.info("scheduler %s over %d optimizer steps or %.0f s (trainer.max_time), whichever is first; warm-up "
                 "%d steps or the same share of the time", name, total, budget, warmup)

        def paced(by_step):
            return lambda step: by_step(min(max(float(step), self._time_fraction * total), float(total)))

        scheduler.lr_lambdas = [paced(f) for f in scheduler.lr_lambdas]
        return scheduler

    def _time_used(self) -> tuple[float, float]:
        """(seconds of training so far, ``trainer.max_time`` in seconds), from the trainer's ``Timer``, which
        carries the time used across a resume; for ``scheduler.time_budget``."""
        from pytorch_lightning.callbacks import Timer

        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)
        remaining = None if timer is None else timer.time_remaining("train")
        if remaining is None:
            raise ValueError("scheduler.time_budget=true needs trainer.max_time (the time the schedule spans)")
        used = timer.time_elapsed("train")
        return used, used + remaining

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
