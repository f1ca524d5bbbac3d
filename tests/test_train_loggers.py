"""W&B goes offline without a key (never blocking); tensorboard/csv/wandb log the same metric names."""

from training_helpers import train_cfg

from gpt4tools.training.run import configure_wandb_mode, run


def test_wandb_offline_without_key_online_with_key(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert configure_wandb_mode() == "offline"
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert configure_wandb_mode() == "online"


def test_all_loggers_record_the_run(tmp_path):
    run(train_cfg(tmp_path, "logger=many", "trainer.max_steps=2", "training.validate_after=false"))
    run_dir = tmp_path / "run"
    assert list(run_dir.rglob("events.out.tfevents.*"))
    assert list(run_dir.rglob("metrics.csv"))
    wandb_runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert wandb_runs and list(wandb_runs[0].glob("*.wandb"))
