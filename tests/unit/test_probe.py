"""Asking a model, batched: the shared-prompt scoring of answers gives the log-probabilities of a plain
forward pass over prompt + answer, the hand-written greedy loop gives ``model.generate``'s greedy tokens
(rows dropping out at their stop token included), and neither depends on the batch size."""

from __future__ import annotations

import pytest
import torch

from kgtools.chat import encode
from kgtools.evaluate import probe
from kgtools.models import ModelSpec, build_preset
from kgtools.train.tokenizer import train_tokenizer

TEXTS = ["Influenza is treated with oseltamivir.", "What treats influenza?", "Asthma affects the lung.",
         "Which organ does asthma affect?", "True or false: asthma affects the liver.", "lung", "liver",
         "oseltamivir", "a viral infection of the respiratory tract"] * 40
QUESTIONS = [
    ([{"role": "user", "content": "What treats influenza?"}], ["oseltamivir", "lung", "a viral infection"]),
    ([{"role": "user", "content": "Which organ does asthma affect? Choose: lung, liver."}], ["lung", "liver"]),
    ([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "True or false: asthma affects "
                                                                                   "the liver."}], ["true", "false"]),
    ([{"role": "user", "content": "Asthma"}], ["affects the lung", "is treated with oseltamivir", "liver"]),
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, 400)


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    spec = ModelSpec.parse("tiny-deepseek-moe")
    special = {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}
    return build_preset(spec, len(tok), special, seed=3).eval()


def _plain_logprob(model, tok, prompt, answer) -> tuple[float, int]:
    p, a = encode(tok, prompt, answer)
    ids = torch.tensor([p + a])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    target = ids[0, 1:]
    picked = logp.gather(-1, target[:, None]).squeeze(1)
    return float(picked[-len(a):].sum()), len(a)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_shared_prompt_scoring_equals_a_plain_forward_pass(model, tok, batch_size):
    items = [(prompt, c) for prompt, choices in QUESTIONS for c in choices]
    got = probe.answer_logprobs(model, tok, items, batch_size=batch_size)
    for (prompt, answer), (lp, n) in zip(items, got, strict=True):
        ref, ref_n = _plain_logprob(model, tok, prompt, answer)
        assert n == ref_n
        assert lp == pytest.approx(ref, abs=1e-3), (prompt, answer)


def test_choices_are_chosen_alike_at_every_batch_size(model, tok):
    one = probe.choose_many(model, tok, QUESTIONS, batch_size=1)
    many = probe.choose_many(model, tok, QUESTIONS, batch_size=16)
    assert [b for b, _ in one] == [b for b, _ in many]
    for (_, s1), (_, s2) in zip(one, many, strict=True):
        assert s1 == pytest.approx(s2, abs=1e-4)
    best, scores = probe.choose(model, tok, *QUESTIONS[1])
    assert best == one[1][0] and scores == pytest.approx(one[1][1], abs=1e-4)


def _hf_greedy(model, tok, prompt, max_new_tokens, stop):
    ids = torch.tensor([encode(tok, prompt, "")[0]])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=stop, pad_token_id=tok.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    return new[: new.index(stop) + 1] if stop in new else new


def test_greedy_loop_matches_generate_and_sheds_finished_rows(model, tok):
    prompts = [q for q, _ in QUESTIONS] + [[{"role": "user", "content": t}] for t in TEXTS[:9]]
    # a stop token that some rows say early and others late or never: rows leave the batch at different steps
    free = [_hf_greedy(model, tok, p, 10, tok.eos_token_id) for p in prompts]
    counts = torch.bincount(torch.tensor([t for f in free for t in f[1:6]]))
    stop = int(counts.argmax())
    expected = [_hf_greedy(model, tok, p, 10, stop) for p in prompts]
    assert len({len(e) for e in expected}) > 2, expected  # the rows really do stop at different steps
    padded = probe._pad(tok, [encode(tok, p, "")[0] for p in prompts], side="left", device="cpu")
    said = probe._greedy(model, padded, 10, {stop})
    assert [ids for ids, _ in said] == expected
    assert all(0 < p <= 1 for _, probs in said for p in probs)


def test_generated_answers_do_not_depend_on_the_batch_size(model, tok):
    prompts = [q for q, _ in QUESTIONS] + [[{"role": "user", "content": t}] for t in TEXTS[:9]]
    one = probe.generate(model, tok, prompts, max_new_tokens=8, batch_size=1)
    many = probe.generate(model, tok, prompts, max_new_tokens=8, batch_size=5)
    assert [t for t, _ in one] == [t for t, _ in many]
    assert [c for _, c in one] == pytest.approx([c for _, c in many], abs=1e-4)
