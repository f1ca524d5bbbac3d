"""LoRA fine-tuning with PyTorch Lightning: data batching, the LightningModule, checkpoints, adapter export."""
