"""Programmatic evaluation (what training calls) and the OpenAI-compatible endpoint path."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "eval" / "fixtures"
SETS = {"val_seen": FIXTURES / "mini_val_seen.json", "test_unseen": FIXTURES / "mini_test_unseen.json"}


def test_evaluate_tuned_vs_zero_shot(tiny_model_cfg, smollm2_tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    from gpt4tools.evaluation import evaluate_tuned_vs_zero_shot
    from gpt4tools.models import load_model

    model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer),
                           LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = evaluate_tuned_vs_zero_shot(model, smollm2_tokenizer, "chatml", SETS, tmp_path,
                                      gen_cfg={"max_new_tokens": 3, "batch_size": 4}, limit=2, plots=False)
    assert out["tuned"]["sets"]["val_seen"]["compat"]["overall"]["n"] == 2
    table = (tmp_path / "comparison.md").read_text()
    assert "| val_seen | compat | tuned | 2 |" in table and "| test_unseen | strict | zero_shot | 2 |" in table
    assert (tmp_path / "tuned" / "predictions.jsonl").is_file() and (tmp_path / "zero_shot" / "report.json").is_file()


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
