"""Programmatic evaluation (what training and the benchmarks call) and the OpenAI-compatible endpoint path."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gpt4tools.evaluation import EvalSettings, LoadedModel, LocalModel, evaluate

FIXTURES = Path(__file__).resolve().parents[1] / "eval" / "fixtures"
SETS = {"val_seen": FIXTURES / "mini_val_seen.json", "test_unseen": FIXTURES / "mini_test_unseen.json"}
SETTINGS = dict(generation={"max_new_tokens": 4, "batch_size": 4}, dtype="float32", plots=False)


def _peft(tiny_model_cfg, tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model

    from gpt4tools.models import load_model

    torch.manual_seed(0)
    return get_peft_model(load_model(tiny_model_cfg, tokenizer),
                          LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False))


def _responses(folder: Path) -> dict[str, str]:
    lines = (folder / "predictions.jsonl").read_text().splitlines()
    return {(r := json.loads(x))["id"]: r["response"] for x in lines}


def test_a_loaded_peft_model_is_scored_tuned_and_zero_shot(tiny_model_cfg, smollm2_tokenizer, tmp_path):
    model = _peft(tiny_model_cfg, smollm2_tokenizer)
    report = evaluate(LoadedModel(model, smollm2_tokenizer, "chatml", "tiny"), SETS, tmp_path,
                      EvalSettings.from_config(limit=2, zero_shot=True, label="tuned", **SETTINGS))
    assert report["sets"]["val_seen"]["compat"]["overall"]["n"] == 2
    table = (tmp_path / "comparison.md").read_text()
    assert "| val_seen | compat | tuned | 2 |" in table and "| test_unseen | strict | zero_shot | 2 |" in table
    assert (tmp_path / "zero_shot" / "report.json").is_file()
    lora_layers = [m for m in model.modules() if hasattr(m, "lora_A")]
    assert lora_layers and not any(m.disable_adapters for m in lora_layers)  # the adapter is on again afterwards


def test_zero_shot_disables_the_adapter_of_the_one_loaded_model(tiny_model_cfg, smollm2_tokenizer, tmp_path,
                                                                 monkeypatch):
    """The baseline is the base model (same predictions as loading it alone), from the model loaded once."""
    import gpt4tools.inference as inference

    _peft(tiny_model_cfg, smollm2_tokenizer).save_pretrained(tmp_path / "adapter")
    loads = []
    real = inference.load_model
    monkeypatch.setattr(inference, "load_model", lambda *a, **k: loads.append(1) or real(*a, **k))
    settings = EvalSettings.from_config(limit=3, zero_shot=True, **SETTINGS)
    evaluate(LocalModel(tiny_model_cfg, tmp_path / "adapter"), {"s": SETS["val_seen"]}, tmp_path / "tuned", settings)
    assert len(loads) == 1
    evaluate(LocalModel(tiny_model_cfg), {"s": SETS["val_seen"]}, tmp_path / "base",
             EvalSettings.from_config(limit=3, **SETTINGS))
    zero_shot, base, tuned = (_responses(tmp_path / f) for f in ("tuned/zero_shot", "base", "tuned"))
    assert zero_shot == base and len(base) == 3
    assert tuned != base  # the adapter was on for the tuned predictions


class _FakeOpenAI(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible chat endpoint: fails the first request with 500, then answers."""

    calls: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if len(type(self).calls) == 1:
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "busy"}}')
            return
        text = ("Thought: Do I need to use a tool? Yes\nAction: Segment the Image\nAction Input: x.png\n"
                "Observation: made up")
        payload = {"id": "1", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": text}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_endpoint():
    _FakeOpenAI.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_endpoint_run_with_retry(fake_endpoint, tmp_path):
    from gpt4tools.evaluation.run import run
    from gpt4tools.utils.config import compose

    cfg = compose("evaluate", [f"eval_sets=[{SETS['val_seen']}]", "limit=3", "endpoint.model=fake-gpt",
                               f"endpoint.base_url={fake_endpoint}", "endpoint.concurrency=1", "plots=false",
                               f"work_dir={tmp_path}"], output_dir=str(tmp_path))
    report = run(cfg)
    assert len(_FakeOpenAI.calls) == 4  # one 500 retried, then three answers
    assert _FakeOpenAI.calls[-1]["stop"] == ["\nObservation:"] and _FakeOpenAI.calls[-1]["temperature"] == 0.0
    preds = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert all(p["response"].endswith("x.png") for p in preds)  # cut at the stop string
    assert report["label"] == "fake-gpt" and report["sets"]["mini_val_seen"]["compat"]["overall"]["n"] == 3


def test_endpoint_gives_up_after_bounded_retries(tmp_path):
    import openai

    from gpt4tools.evaluation.endpoint import EndpointGenerator

    gen = EndpointGenerator(model="m", base_url="http://127.0.0.1:9/v1", max_retries=2, timeout=2,
                            retry_wait_max=0.01)
    with pytest.raises(openai.APIConnectionError):
        gen.generate(["hello"])
