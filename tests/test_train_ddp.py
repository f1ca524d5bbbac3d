"""DDP on 2 CPU processes (gloo) through train.py, as a user would launch it."""

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from training_helpers import TINY_RECIPE, write_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_ddp_two_cpu_processes(tmp_path):
    files = write_dataset(tmp_path / "data", n_train=32, n_val=8)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "train.py", "model=tiny", *TINY_RECIPE, "trainer=ddp", "trainer.accelerator=cpu",
           "trainer.devices=2", "trainer.max_steps=3", "trainer.enable_progress_bar=false", "batching.batch_size=2",
           "batching.max_length=1024", "eval.enabled=false", "~logger", f"data.train_file={files['train']}",
           f"data.val_seen_file={files['val_seen']}", f"data.test_unseen_file={files['test_unseen']}",
           f"paths.output_root={tmp_path / 'outputs'}", f"hydra.run.dir={run_dir}", "checkpoint.every_n_train_steps=3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert "val/loss" in log
    weights = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["global_step"] == 3 and all("lora_" in k for k in ckpt["state_dict"])
