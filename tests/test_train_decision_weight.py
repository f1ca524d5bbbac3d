"""training.decision_weight: the Yes/No and action-name tokens weigh more in the training loss."""

import pytest
import torch
import torch.nn.functional as F
from test_train_frozen_prompt import _lora
from test_train_sharing import _chain_items

from gpt4tools.prompt import IGNORE_INDEX, decision_spans, encode_sample
from gpt4tools.training.batching import Collator
from gpt4tools.training.samples import tokenize_samples
from gpt4tools.training.sharing import SharedRowCollator, share_prompts

STEP = "Thought: Do I need to use a tool? Yes\nAction: Segment the Image\nAction Input: a.png\nObservation:\n"


def test_decision_spans_are_the_yes_no_and_the_action_name():
    spans = decision_spans(STEP)
    assert [STEP[a:b] for a, b in spans] == ["Yes", "Segment the Image"]
    final = "Thought: Do I need to use a tool? No\nAI: The Action: field is where a tool goes.\n"
    assert [final[a:b] for a, b in decision_spans(final)] == ["No"]


def test_encode_sample_weighs_exactly_the_decision_tokens(smollm2_tokenizer):
    tok = smollm2_tokenizer
    plain = encode_sample(tok, "chatml", "Segment the image a.png", STEP)
    assert plain.weights is None
    enc = encode_sample(tok, "chatml", "Segment the image a.png", STEP, decision_weight=4.0)
    assert enc.input_ids == plain.input_ids and enc.labels == plain.labels
    assert len(enc.weights) == len(enc.input_ids)
    heavy = "".join(tok.decode([t]) for t, w in zip(enc.input_ids, enc.weights) if w == 4.0)
    assert heavy.split() == ["Yes", "Segment", "the", "Image"]
    # prompt tokens weigh nothing, every other target token 1
    assert all(w == 0.0 for w, label in zip(enc.weights, enc.labels) if label == IGNORE_INDEX)
    assert {w for w, label in zip(enc.weights, enc.labels) if label != IGNORE_INDEX} == {1.0, 4.0}


def test_a_slow_tokenizer_is_refused_with_a_clear_message(smollm2_tokenizer):
    class Slow:
        is_fast = False
        eos_token = smollm2_tokenizer.eos_token

        def __call__(self, *args, **kwargs):
            return smollm2_tokenizer(*args, **kwargs)

    with pytest.raises(ValueError, match="fast tokenizer"):
        encode_sample(Slow(), "chatml", "x", STEP, decision_weight=2.0)


@pytest.fixture
def weighted(tiny_model_cfg, smollm2_tokenizer):
    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule

    torch.manual_seed(0)
    model = _lora(load_model(tiny_model_cfg, smollm2_tokenizer)).eval()
    module = LoRAModule(model, {"lr": 1e-3}, {}, pad_token_id=smollm2_tokenizer.pad_token_id)
    samples = tokenize_samples(_chain_items(), smollm2_tokenizer, "chatml", 2048, decision_weight=3.0)
    return module, samples


def _reference_loss(module, samples) -> torch.Tensor:
    """The weighted mean computed sample by sample with the full forward."""
    total, weight = torch.zeros(()), torch.zeros(())
    for s in samples:
        ids = torch.tensor([s.input_ids])
        logits = module.model(input_ids=ids).logits[0, :-1].float()
        labels, weights = torch.tensor(s.labels[1:]), torch.tensor(s.weights[1:])
        keep = labels != IGNORE_INDEX
        total += (F.cross_entropy(logits[keep], labels[keep], reduction="none") * weights[keep]).sum()
        weight += weights[keep].sum()
    return total / weight


@pytest.mark.parametrize("layout", ["padded", "packed", "shared", "shared_frozen"])
def test_every_layout_gives_the_weighted_mean(weighted, smollm2_tokenizer, layout):
    module, samples = weighted
    pad = smollm2_tokenizer.pad_token_id
    if layout.startswith("shared"):
        batch = SharedRowCollator(pad)(share_prompts(samples))
        assert "shift_weights" in batch
    else:
        batch = Collator(pad, pack=layout == "packed")(samples)
        assert batch["label_weights"].shape == batch["labels"].shape
    with torch.no_grad():
        loss, count = module.loss_and_count(batch, frozen_prompt=layout.endswith("frozen"))
        reference = _reference_loss(module, samples)
        unweighted, _ = module.loss_and_count(Collator(pad)(tokenize_samples(_chain_items(), smollm2_tokenizer,
                                                                             "chatml", 2048)))
    assert count == sum(s.num_targets for s in samples)
    torch.testing.assert_close(loss, reference, rtol=1e-4, atol=1e-5)
    assert abs(float(loss) - float(unweighted)) > 1e-3  # the weights change the loss


def test_the_training_file_is_weighted_and_the_validation_file_is_not(tmp_path, smollm2_tokenizer):
    import json

    from gpt4tools.training.datamodule import GPT4ToolsDataModule

    path = tmp_path / "train.json"
    path.write_text(json.dumps(_chain_items()))
    dm = GPT4ToolsDataModule(path, path, smollm2_tokenizer, "chatml", 2048, batch_size=2, decision_weight=2.0)
    dm.setup("fit")
    assert all(s.weights is not None and max(s.weights) == 2.0 for s in dm.train_samples)
    assert all(s.weights is None for s in dm.val_samples)
    assert "label_weights" in next(iter(dm.train_dataloader()))
    assert "label_weights" not in next(iter(dm.val_dataloader()))
