"""Building the agent from the infer config: adapter discovery, the model line, the one-shot and chat front ends."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_doubles import FakeTool, FakeWorkspace, ScriptedLLM, reply, step
from PIL import Image
from rich.console import Console

from gpt4tools.agent import Agent, ChatSession
from gpt4tools.agent import run as run_module
from gpt4tools.agent.build import SAMPLE_IMAGE, build_llm, find_latest_adapter, resolve_adapter
from gpt4tools.apps.cli import chat
from gpt4tools.utils.config import compose

ROOT = Path(__file__).resolve().parents[1]


def _adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    return folder


def test_latest_adapter_is_the_newest_training_run(tmp_path):
    assert find_latest_adapter(tmp_path) is None
    old = _adapter(tmp_path / "train" / "2026-01-01_00-00-00" / "adapter")
    new = _adapter(tmp_path / "train" / "2026-01-02_00-00-00" / "adapter")
    os.utime(old / "adapter_config.json", (1, 1))
    (tmp_path / "train" / "2026-01-03_00-00-00" / "adapter").mkdir(parents=True)  # unfinished: no config
    assert find_latest_adapter(tmp_path) == new


def test_adapter_choice(tmp_path):
    cfg = compose("infer", ["adapter=null", f"paths.output_root={tmp_path}"], output_dir=str(tmp_path))
    assert resolve_adapter(cfg) is None
    from gpt4tools.utils.errors import ConfigError

    cfg = compose("infer", [f"adapter={tmp_path}/nothing"], output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="nothing does not exist: give a peft adapter folder"):
        resolve_adapter(cfg)
    cfg = compose("infer", [f"adapter={tmp_path}"], output_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="has no adapter_config.json"):
        resolve_adapter(cfg)


def test_base_model_is_said_plainly_without_an_adapter(tmp_path):
    cfg = compose("infer", ["model=tiny", f"paths.output_root={tmp_path}"], output_dir=str(tmp_path))
    llm, what = build_llm(cfg)
    assert "base model, no adapter" in what and "make demo" in what
    assert "\nHuman:" in llm.generator.stops and "\nObservation:" in llm.generator.stops


def test_auto_adapter_from_the_last_training_run_is_loaded(tmp_path, tiny_model_cfg, smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model

    from gpt4tools.models import load_model

    peft_model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                                LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "train" / "2026-01-01_00-00-00" / "adapter")
    cfg = compose("infer", ["model=tiny", f"paths.output_root={tmp_path}"], output_dir=str(tmp_path))
    _, what = build_llm(cfg)
    assert what == f"tiny + LoRA adapter {tmp_path}/train/2026-01-01_00-00-00/adapter"


def _scripted(tmp_path: Path) -> Agent:
    workspace = FakeWorkspace(tmp_path / "ws")
    llm = ScriptedLLM([step("Edge Detection On Image", "image/upload_0000.png"), reply("Edges: done.")])
    return Agent(llm, {"Image2Canny": FakeTool("Image2Canny", workspace)}, workspace)


def test_one_shot_default_uses_the_bundled_sample(tmp_path, monkeypatch, capsys):
    agent = _scripted(tmp_path)
    monkeypatch.setattr(run_module, "build_agent", lambda cfg: agent)
    cfg = compose("infer", output_dir=str(tmp_path))
    result = run_module.run(cfg)
    assert SAMPLE_IMAGE.is_file() and SAMPLE_IMAGE.stat().st_size < 150_000
    assert result.answer == "Edges: done." and len(result.images) == 1
    out = capsys.readouterr().out
    assert "Edges: done." in out and "produced image: image/image2canny_0001.png" in out


def test_terminal_chat_commands(tmp_path):
    agent = _scripted(tmp_path)
    session = ChatSession(agent)
    lines = iter(["/image " + str(SAMPLE_IMAGE), "detect the edges", "/reset", "/quit", "never read"])
    console = Console(record=True, width=200)
    chat(session, console=console, read=lambda prompt: next(lines))
    text = console.export_text()
    assert "Image -> image/upload_0000.png" in text and "Edges: done." in text and "Conversation cleared." in text
    assert session.history.turns == []


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("gpt4tools.tools") is None, reason="needs the visual tools package")
def test_default_infer_runs_offline_with_smollm2(tmp_path):
    """`python infer.py` with no arguments: SmolLM2 (+ last adapter), offline tools, the sample image."""
    env = {**os.environ, "GPT4TOOLS_OUTPUTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, "infer.py", "generation.max_new_tokens=48", "agent.max_steps=2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = next(tmp_path.glob("infer/*/infer.log")).read_text()
    assert "Model: smollm2_135m" in log and "Tools: " in log and "Edge Detection On Image" in log
    turns = next(tmp_path.glob("infer/*/workspace/turns.jsonl")).read_text().splitlines()
    assert len(turns) == 2


def test_agent_over_a_real_generator_terminates_and_logs(tmp_path, tiny_model, smollm2_tokenizer):
    """The loop driven by the shared Generator (a random tiny model writes malformed steps): bounded, logged."""
    from gpt4tools.agent import AgentSettings, GeneratorLLM
    from gpt4tools.inference import Generator

    workspace = FakeWorkspace(tmp_path / "ws")
    llm = GeneratorLLM(Generator(tiny_model, smollm2_tokenizer, "chatml", max_new_tokens=6))
    agent = Agent(llm, {"Image2Canny": FakeTool("Image2Canny", workspace)}, workspace,
                  AgentSettings(max_retries=1, max_steps=2))
    session = ChatSession(agent)
    session.upload(Image.open(SAMPLE_IMAGE))
    result = session.ask("detect the edges of this image")
    assert result.stop_reason in ("answer", "max_retries", "max_steps")
    assert 1 <= len(result.steps) <= 3
    assert [r["kind"] for r in agent.turn_log.read()] == ["upload", "turn"]
