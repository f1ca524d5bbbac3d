"""Length-grouped resumable sampling, the row layouts (single, packed) and their one batch contract, the target-only loss."""

from functools import partial

import torch

from gpt4tools.prompt import IGNORE_INDEX
from gpt4tools.training.batching import LengthGroupedBatchSampler
from gpt4tools.training.rows import RowCollator, pack_rows, single_rows
from gpt4tools.training.samples import TokenizedSample


def _lengths(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(300, 1000, (n,), generator=g).tolist()


def test_batches_cover_every_sample_once_and_group_lengths():
    lengths = _lengths()
    sampler = LengthGroupedBatchSampler(lengths, 4, seed=1)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(lengths), generator=g).tolist()
    random_padded = sum(max(lengths[i] for i in order[s:s + 4]) * len(order[s:s + 4]) for s in range(0, len(order), 4))
    assert padded < 0.8 * random_padded and padded < sum(lengths) * 1.05
    assert padded < max(lengths) * len(lengths) * 0.8  # never padded to the maximum


def test_order_is_seeded_per_epoch():
    a, b = LengthGroupedBatchSampler(_lengths(), 4, seed=1), LengthGroupedBatchSampler(_lengths(), 4, seed=1)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_resume_yields_exactly_the_unconsumed_batches():
    full = LengthGroupedBatchSampler(_lengths(), 4, seed=2)
    full.set_epoch(1)
    expected = list(full)
    resumed = LengthGroupedBatchSampler(_lengths(), 4, seed=2)
    resumed.resume_from(epoch=1, batches_done=7)
    assert list(resumed) == expected[7:]
    assert len(list(resumed)) == len(expected)  # the skip applies to the resumed epoch once
    assert len(resumed) == len(expected)


def test_ranks_get_disjoint_equal_shards():
    shards = [list(LengthGroupedBatchSampler(_lengths(), 4, seed=0, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1])
    assert not {i for b in shards[0] for i in b} & {i for b in shards[1] for i in b}


def test_max_tokens_caps_padded_batch():
    lengths = _lengths()
    for b in LengthGroupedBatchSampler(lengths, 16, max_tokens=2000):
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 2000


def test_packing_rows_and_collation():
    lengths = _lengths(50)
    samples = [TokenizedSample(list(range(n)), [IGNORE_INDEX] * (n - 1) + [7]) for n in lengths]
    rows = pack_rows(samples, 2048)
    assert sorted(id(s) for r in rows for s in r.branches) == sorted(map(id, samples))
    assert all(len(r) <= 2048 for r in rows) and len(rows) < len(samples) / 2
    assert [len(r) for r in pack_rows(samples, 2048)] == [len(r) for r in rows]  # deterministic
    two = [TokenizedSample([1, 2, 3], [IGNORE_INDEX, 2, 3]), TokenizedSample([4, 5], [IGNORE_INDEX, 5])]
    batch = RowCollator(0)(pack_rows(two, 8))
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["shift_labels"].tolist() == [[2, 3, IGNORE_INDEX, 5, IGNORE_INDEX]]
    mask = batch["attention_mask"][0, 0]
    assert mask.shape == (5, 5) and not mask[3, :3].any() and mask[4, 3] and not mask[3, 4]  # samples apart, causal
    padded = RowCollator(0)(single_rows(two))
    assert padded["input_ids"].shape == (2, 3) and padded["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert padded["shift_labels"][1].tolist() == [5, IGNORE_INDEX, IGNORE_INDEX]
    assert set(padded) == set(batch)  # one batch contract for every layout
    assert int(padded["num_tokens"]) == int(batch["num_tokens"]) == 5 and int(batch["num_samples"]) == 2


def test_target_only_loss_equals_full_loss_and_packing_matches(tiny_model_cfg, smollm2_tokenizer):
    from peft import LoraConfig, get_peft_model
    from training_helpers import make_items

    from gpt4tools.models import load_model
    from gpt4tools.training.module import LoRAModule
    from gpt4tools.training.samples import tokenize_samples

    model = get_peft_model(load_model(tiny_model_cfg, smollm2_tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    samples = tokenize_samples(make_items(3), smollm2_tokenizer, "chatml", 1024)
    fast = LoRAModule(model, partial(torch.optim.AdamW, lr=1e-3), target_only_logits=True)
    slow = LoRAModule(model, partial(torch.optim.AdamW, lr=1e-3), target_only_logits=False)
    assert fast._split is not None
    model.eval()
    with torch.no_grad():
        batch = RowCollator(smollm2_tokenizer.pad_token_id)(single_rows(samples))
        a, n = fast.loss_and_count(batch)
        b, m = slow.loss_and_count(batch)
        labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        labels[:, 1:] = batch["shift_labels"][:, :-1]
        hf = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss
        packed, k = fast.loss_and_count(RowCollator(0)(pack_rows(samples, 4096)))
    assert n == m == k == sum(s.num_targets for s in samples)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(a, hf, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(packed, a, rtol=1e-4, atol=1e-4)


def test_lightning_reaches_set_epoch_through_batch_sampler():
    from lightning_fabric.utilities.data import _set_sampler_epoch
    from torch.utils.data import DataLoader

    sampler = LengthGroupedBatchSampler(_lengths(), 4)
    _set_sampler_epoch(DataLoader(list(range(200)), batch_sampler=sampler), 3)
    assert sampler.epoch == 3
