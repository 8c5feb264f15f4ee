"""How a synth example becomes a chat: the prompt turns (with the graph facts as a system turn when asked)
and the answer tokens under the tokenizer's chat template. Training and evaluation both use it, so a model
is asked exactly as it was taught."""

from __future__ import annotations

from typing import Any

CONTEXT_INTRO = "Facts from the knowledge graph:\n"


def prompt_messages(example: dict[str, Any], *, with_context: bool) -> list[dict[str, str]]:
    """The chat turns before the answer; with the example's graph facts as a system turn when asked."""
    turns = [dict(m) for m in example["messages"][:-1]]
    if with_context and example.get("context"):
        facts = {"role": "system", "content": CONTEXT_INTRO + example["context"]}
        if turns and turns[0]["role"] == "system":
            facts["content"] = turns[0]["content"] + "\n\n" + facts["content"]
            turns = turns[1:]
        turns = [facts, *turns]
    return turns


def _ids(encoded) -> list[int]:
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def render(tokenizer, turns: list[dict[str, str]], **kwargs: Any):
    """``tokenizer.apply_chat_template`` — and for a template that refuses a system turn (Mixtral-Instruct's:
    "Conversation roles must alternate user/assistant…"), the system turn's text put before the first user
    turn's, as those models are taught to read instructions."""
    from jinja2.exceptions import TemplateError

    try:
        return tokenizer.apply_chat_template(turns, **kwargs)
    except TemplateError:
        if len(turns) < 2 or turns[0]["role"] != "system" or turns[1]["role"] != "user":
            raise
        folded = {"role": "user", "content": turns[0]["content"] + "\n\n" + turns[1]["content"]}
        return tokenizer.apply_chat_template([folded, *turns[2:]], **kwargs)


def encode_prompt(tokenizer, prompt: list[dict[str, str]]) -> list[int]:
    """The ids of the prompt turns and the generation prompt: what a model is given to answer."""
    return _ids(render(tokenizer, prompt, add_generation_prompt=True, tokenize=True, return_dict=True))


def encode(tokenizer, prompt: list[dict[str, str]], answer: str, *,
           prompt_ids: list[int] | None = None) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) under the tokenizer's chat template. The answer ids are what the template
    puts after the generation prompt (end-of-turn tokens included), so the loss covers them exactly.
    ``prompt_ids`` (``encode_prompt`` of the same prompt) saves rendering it again for each of its answers."""
    if prompt_ids is None:
        prompt_ids = encode_prompt(tokenizer, prompt)
    full = _ids(render(tokenizer, [*prompt, {"role": "assistant", "content": answer}], tokenize=True, return_dict=True))
    if full[: len(prompt_ids)] == prompt_ids and len(full) > len(prompt_ids):
        answer_ids = full[len(prompt_ids):]
        # templates end a conversation with a newline after the end-of-turn token: not part of the answer
        while len(answer_ids) > 1 and answer_ids[-1] != tokenizer.eos_token_id and tokenizer.decode(answer_ids[-1:]).strip() == "":
            answer_ids = answer_ids[:-1]
    else:  # a template that rewrites earlier turns once an answer follows
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return prompt_ids, answer_ids
