"""Evaluation throughput: our evaluator vs the original procedure, same model and eval set, one run.

    python experiments/bench/eval_throughput.py --limit 4            # SmolLM2-135M-Instruct (+ newest adapter), CPU
    python experiments/bench/eval_throughput.py --model tiny --adapter none --limit 4  # seconds, a smoke test

Ours: the evaluator's path (:func:`gpt4tools.evaluation.evaluate` on the loaded model) - a continuous batch,
KV cache, generation stopped at ``\\nObservation:`` / end of turn, predictions written incrementally, then both
scorers and the report, in the evaluator's default precision (``dtype=auto``: bf16
on a CPU with native bf16 units). Baseline, as the original ``inference.py`` +
``eval/evaluate_result.py`` do it: one item at a time, greedy, no stop sequence (only EOS),
``max_new_tokens=512``, the model cast to float32 on a CPU (``model.float()``; half on a GPU), the whole
sequence decoded and the prompt cut off by its character length, then the compat scorer.
``--dtype float32`` runs ours in the baseline's precision, isolating batching and stopping. Both see the same
chat-template-rendered prompt (the original fed the bare instruction to Vicuna; a chat model needs
its template), so the two are comparable item by item. The two run interleaved, one batch of items
at a time, so that load from other processes hits both alike.

Prints samples/s of each and the ratio, and checks that on every item where the baseline's
output cut at its first ``Observation:`` equals ours, the compat scores agree.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import logging
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gpt4tools.agent.build import find_latest_adapter
from gpt4tools.evaluation import EvalSettings, LoadedModel, evaluate
from gpt4tools.evaluation.compat import score_compat
from gpt4tools.evaluation.items import load_eval_set
from gpt4tools.evaluation.predictions import load_predictions, prediction_file
from gpt4tools.evaluation.sources import make_generator
from gpt4tools.inference import inference_dtype, load_for_inference
from gpt4tools.models.choice import base_model_for, model_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SET = ROOT / "eval" / "fixtures" / "mini_val_seen.json"
log = logging.getLogger("eval_throughput")


@torch.inference_mode()
def baseline_predict(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The original procedure for one item: batch 1, greedy, no stop string, full decode, cut by length."""
    enc = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    full = tokenizer.batch_decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]
    shown = tokenizer.decode(enc["input_ids"][0], skip_special_tokens=True, clean_up_tokenization_spaces=False)
    return full[len(shown):].strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="a conf/model name (default: the adapter's base; smollm2_135m without an adapter)")
    parser.add_argument("--eval-set", default=str(DEFAULT_SET), help="an eval file (official format)")
    parser.add_argument("--limit", type=int, default=4, help="first N items (the baseline may take ~1 min per item on 2 cores)")
    parser.add_argument("--batch-size", type=int, default=16, help="ours: rows decoded together")
    parser.add_argument("--chunk", type=int, default=64,
                        help="items per round; the two alternate round by round (fair under outside load)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="ours (a step is ~35 tokens)")
    parser.add_argument("--baseline-max-new-tokens", type=int, default=512)
    parser.add_argument("--adapter", default="auto",
                        help="a LoRA adapter folder; 'auto' = the newest outputs/train/*/adapter (what the original "
                             "procedure evaluates: the tuned model), 'none' = the base model")
    parser.add_argument("--dtype", default="auto", help="ours: auto | float32 | bfloat16 | float16 (the evaluator's dtype)")
    parser.add_argument("--baseline-dtype", default=None,
                        help="the baseline's dtype (default: what the original does - float32 on CPU, float16 on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    adapter = None if args.adapter == "none" else (
        find_latest_adapter(ROOT / "outputs") if args.adapter == "auto" else Path(args.adapter))
    model_cfg = base_model_for(adapter, model_config(args.model) if args.model else None)
    model, tokenizer = load_for_inference(model_cfg, adapter=adapter)
    base_dtype = args.baseline_dtype or ("float16" if model.device.type == "cuda" else "float32")
    model.to(inference_dtype(base_dtype, model.device))
    ours_model = model
    ours_dtype = inference_dtype(args.dtype, model.device)
    if ours_dtype != model.dtype:
        ours_model = copy.deepcopy(model).to(ours_dtype)
    items = load_eval_set(args.eval_set)[: args.limit]
    name = items[0].set
    settings = EvalSettings.from_config(generation={"max_new_tokens": args.max_new_tokens,
                                                    "batch_size": args.batch_size}, plots=False)
    source = LoadedModel(ours_model, tokenizer, model_cfg.chat_template, str(model_cfg.name))
    gen = make_generator(ours_model, tokenizer, model_cfg.chat_template, settings.generation)
    gen.generate_batch([gen.render("warm-up")])  # builds the stop criterion once, like a long run would

    # Interleave the two chunk by chunk (the next chunk of items through ours - evaluate() resumes the earlier
    # chunks' predictions and generates only the new ones - then through the baseline) so that load from other
    # processes on a shared machine hits both alike.
    out_dir = Path(tempfile.mkdtemp())
    t_ours = t_base = 0.0
    base: dict[str, str] = {}
    for start in range(0, len(items), args.chunk):
        chunk = items[start:start + args.chunk]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the evaluator's closing table, once per chunk
            evaluate(source, {name: args.eval_set}, out_dir, dataclasses.replace(settings, limit=start + len(chunk)))
        t_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        for it in chunk:
            base[it.id] = baseline_predict(model, tokenizer, gen.render(it.instruction, it.input),
                                           args.baseline_max_new_tokens)
        t_base += time.perf_counter() - t0
    ours = load_predictions(prediction_file(out_dir), {name: items}, "ours")[name]
    shutil.rmtree(out_dir)

    same, agree, disagree = 0, 0, []
    for it in items:
        cut = base[it.id].split("Observation:", 1)[0].strip()
        if cut != ours[it.id].strip():
            continue
        same += 1
        a, b = score_compat(it.output, base[it.id], it.id), score_compat(it.output, ours[it.id].strip(), it.id)
        if (a.thought, a.action, a.args, a.success, a.iou) == (b.thought, b.action, b.args, b.success, b.iou):
            agree += 1
        else:
            disagree.append(it.id)
    sr = {name: sum(score_compat(it.output, preds[it.id].strip()).success for it in items) / len(items)
          for name, preds in (("ours", ours), ("baseline", base))}
    n = len(items)
    print(f"model={model_cfg.name} adapter={adapter or 'none (base model)'} items={n} threads={torch.get_num_threads()} eval_set={Path(args.eval_set).name}")
    print(f"ours:     {n / t_ours:.3f} samples/s ({t_ours:.1f} s; {str(ours_model.dtype)[6:]}, batch {args.batch_size}, stop at Observation, "
          f"max_new_tokens {args.max_new_tokens}; incl. writing and both scorers)  compat SR {100 * sr['ours']:.1f}")
    print(f"baseline: {n / t_base:.3f} samples/s ({t_base:.1f} s; {str(model.dtype)[6:]}, batch 1, no stop, max_new_tokens "
          f"{args.baseline_max_new_tokens})  compat SR {100 * sr['baseline']:.1f}")
    def toks(preds):
        return sum(len(tokenizer(preds[it.id], add_special_tokens=False)["input_ids"]) for it in items) / n

    print(f"new tokens per item (mean): ours {toks(ours):.0f}, baseline {toks(base):.0f}")
    print(f"ratio:    {t_base / t_ours:.2f}x")
    print(f"agreement: {same}/{n} items where the baseline cut at its first Observation: equals ours; "
          f"compat scores agree on {agree}/{same}" + (f"; differ on {disagree}" if disagree else ""))


if __name__ == "__main__":
    main()
