"""Clear errors before training; every experiment preset composes; quantized (nf4) LoRA and the 8-bit optimizer."""

import pytest
import torch
from omegaconf import OmegaConf
from training_helpers import train_cfg

from gpt4tools.training.build import TrainingConfigError
from gpt4tools.training.run import run
from gpt4tools.training.samples import DatasetError
from gpt4tools.utils.config import CONFIG_DIR, compose

EXPERIMENTS = sorted(p.stem for p in (CONFIG_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes(name, tmp_path):
    cfg = compose("train", [f"experiment={name}"], output_dir=str(tmp_path))
    OmegaConf.resolve(cfg)
    assert cfg.optimizer.lr > 0 and cfg.batching.batch_size >= 1 and cfg.lora.r >= 1


def test_paper_recipe():
    cfg = compose("train", ["experiment=gpt4tools_vicuna13b"])
    lora = OmegaConf.to_container(cfg.lora, resolve=True)
    assert (lora["r"], lora["lora_alpha"], lora["lora_dropout"]) == (16, 16, 0.05)
    assert lora["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert cfg.optimizer.lr == 3e-4 and cfg.trainer.max_epochs == 6 and cfg.batching.max_length == 2048
    global_batch = cfg.batching.batch_size * cfg.trainer.accumulate_grad_batches * cfg.trainer.devices * cfg.trainer.num_nodes
    assert global_batch == 512


def test_train_yaml_is_what_runs():
    """No preset and no time cap decide the default recipe: it is train.yaml's own fixed number of steps."""
    cfg = compose("train")
    defaults = OmegaConf.load(CONFIG_DIR / "train.yaml").defaults
    assert {"experiment": None} in defaults
    assert cfg.model.name == "smollm2_135m" and cfg.trainer.max_time is None
    assert cfg.trainer.max_steps > 0 and cfg.trainer.max_epochs == 1
    assert "auto" not in OmegaConf.to_yaml(cfg)
    assert cfg.trainer.precision in ("bf16-mixed", "32-true")


@pytest.mark.parametrize("amx, avx512_bf16, expected", [(True, False, "bf16-mixed"), (False, True, "bf16-mixed"),
                                                         (False, False, "32-true")])
def test_cpu_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch, amx, avx512_bf16, expected):
    from gpt4tools.utils.machine import cpu_precision

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    cpu_precision.cache_clear()
    try:
        assert cpu_precision() == expected
        assert compose("train").trainer.precision == expected
        assert compose("train", ["trainer.precision=32-true"]).trainer.precision == "32-true"  # explicit stays
    finally:
        cpu_precision.cache_clear()


def test_optimizer_and_scheduler_are_built_from_config(tiny_model_cfg, smollm2_tokenizer):
    from hydra.utils import instantiate
    from peft import LoraConfig, get_peft_model

    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule

    cfg = compose("train", ["scheduler.warmup_steps=2"])
    model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    module = LoRAModule(model, instantiate(cfg.optimizer), instantiate(cfg.scheduler))
    module.trainer = type("T", (), {"estimated_stepping_batches": 10})()
    built = module.configure_optimizers()
    assert type(built["optimizer"]).__name__ == "AdamW"
    assert built["optimizer"].param_groups[0]["lr"] == 0.0  # warming up from 0
    lrs = []
    for _ in range(10):
        built["optimizer"].step()
        built["lr_scheduler"]["scheduler"].step()
        lrs.append(built["optimizer"].param_groups[0]["lr"])
    assert lrs[1] == pytest.approx(cfg.optimizer.lr) and lrs[-1] < lrs[2]  # warm-up 2 steps, then cosine decay
    with pytest.raises(ValueError, match="scheduler.name='wavy'"):
        instantiate(compose("train", ["scheduler.name=wavy"]).scheduler)(built["optimizer"], num_training_steps=5)


def test_unknown_target_module_fails_before_training(tmp_path):
    with pytest.raises(TrainingConfigError, match=r"\['qkv_fused'\] not found .* q_proj"):
        run(train_cfg(tmp_path, "lora.target_modules=[q_proj,qkv_fused]"))


def test_length_beyond_model_fails_before_training(tmp_path):
    with pytest.raises(TrainingConfigError, match="beyond model tiny's limit of 2048"):
        run(train_cfg(tmp_path, "batching.max_length=4096"))


def test_dataset_without_targets_fails_before_training(tmp_path):
    import json

    cfg = train_cfg(tmp_path)
    items = json.loads(open(cfg.data.train_file).read())
    items[5]["output"] = ""
    open(cfg.data.train_file, "w").write(json.dumps(items))
    with pytest.raises(DatasetError, match=r"train\.json: item 5"):
        run(cfg)


def test_unknown_quant_mode(tmp_path):
    with pytest.raises(TrainingConfigError, match="quant='int3'"):
        run(train_cfg(tmp_path, "quant=int3"))


@pytest.mark.parametrize(("quant", "layer"), [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_kbit_lora_with_8bit_optimizer_trains(quant, layer, tmp_path, tiny_model_cfg, smollm2_tokenizer):
    from gpt4tools.models import load_model

    folder = tmp_path / "tiny_hf"
    load_model(tiny_model_cfg, smollm2_tokenizer).save_pretrained(str(folder))
    smollm2_tokenizer.save_pretrained(str(folder))
    cfg = train_cfg(tmp_path, "model.source=hub", f"model.path={folder}", f"quant={quant}", "optimizer._target_=bitsandbytes.optim.AdamW8bit",
                    "trainer.max_steps=6", "optimizer.lr=2e-2", "~logger", "training.validate_before=true",
                    "training.gradient_checkpointing=true", "batching.val_max_samples=4")
    import bitsandbytes as bnb

    from gpt4tools.training.build import build_lora_model

    built = build_lora_model(cfg, smollm2_tokenizer)
    assert sum(isinstance(m, getattr(bnb.nn, layer)) for m in built.modules()) >= 8  # the base really is k-bit
    assert all(p.dtype == torch.float32 for p in built.parameters() if p.requires_grad)
    summary = run(cfg)
    assert summary["val_loss"] < summary["val_loss_before"]  # QLoRA learned something
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()


def test_slurm_launcher_config():
    cfg = compose("train", ["hydra/launcher=slurm", "trainer=multinode", "trainer.num_nodes=4"],
                  return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.nodes == 4


@pytest.mark.parametrize("trainer", ["ddp", "fsdp"])
def test_strategy_nodes_instantiate(trainer):
    from hydra.utils import instantiate

    strategy = instantiate(compose("train", [f"trainer={trainer}"]).trainer.strategy)
    assert type(strategy).__name__ == {"ddp": "DDPStrategy", "fsdp": "FSDPStrategy"}[trainer]


def test_lora_on_top_layers_stops_the_backward_below_them(tmp_path, smollm2_tokenizer):
    """``+lora.layers_to_transform`` (peft's key) adapts only the named layers, and the layers below them run
    without autograd: their outputs carry no gradient history, so the backward pass stops at the adapted ones."""
    import json

    from gpt4tools.training.build import build_lora_model

    cfg = train_cfg(tmp_path, "+lora.layers_to_transform=[1]", "trainer.max_steps=4", "~logger")
    model = build_lora_model(cfg, smollm2_tokenizer)
    adapted = {n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert adapted == {"1"}
    outputs = {}
    layers = model.get_base_model().model.layers
    hooks = [layer.register_forward_hook(lambda m, a, out, i=i: outputs.__setitem__(i, out))
             for i, layer in enumerate(layers)]
    ids = torch.tensor([smollm2_tokenizer("Detect the edges of this image.").input_ids])
    model(input_ids=ids, labels=ids).loss.backward()
    for hook in hooks:
        hook.remove()
    hidden = {i: out[0] if isinstance(out, tuple) else out for i, out in outputs.items()}
    assert hidden[0].grad_fn is None and hidden[1].grad_fn is not None
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)

    run(cfg)
    saved = json.loads((tmp_path / "run" / "adapter" / "adapter_config.json").read_text())
    assert saved["layers_to_transform"] == [1]
