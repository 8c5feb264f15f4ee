"""The `eval` stage: the instruction data's test splits + the train artifacts → ``metrics.json``,
``report.md`` and PNG plots. Every model is asked closed-book (no graph facts in the prompt) except the
``kg_sft+context`` row, which shows what stage 2 has to move from the prompt into the weights."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from kgtools import board
from kgtools.artifacts import (
    Artifact,
    ArtifactStore,
    StageResult,
    artifact_key,
    file_digest,
    write_json_atomic,
)
from kgtools.chat import prompt_messages
from kgtools.config import DEFAULT_EVAL_SPLITS, SURE_NEGATIVE_KINDS, UPDATE_EVAL_SPLITS, EvalConfig
from kgtools.errors import ConfigError, KgtoolsError
from kgtools.evaluate import probe, scoring
from kgtools.progress import Steps

STAGE = "eval"
OPEN_TASKS = ("fact_qa", "inverse_qa", "multi_hop", "list", "synonym", "diagnosis", "property_schema")  # answered by an entity (or its name)
VALUE_TASKS = ("literal", "cardinality")  # answered by a code, value or quantity, graded exactly after normalisation
STAGE_ORDER = ("base", "kg_sft+context", "kg_sft", "distill", "reinforce")
OUTCOME_COLUMNS = ("model", "split", "id", "task", "asked", "ok", "said", "says_old", "prefers_old")


class EvalInputError(KgtoolsError):
    """Inputs the evaluation cannot use."""


class EvalResult(StageResult):
    def metrics(self) -> dict[str, Any]:
        import json

        return json.loads((self.path / "metrics.json").read_text("utf-8"))


def retention_path(cfg: EvalConfig) -> Path:
    if cfg.retention_text is not None:
        if not cfg.retention_text.is_file():
            raise ConfigError(f"evaluate.retention_text: {cfg.retention_text}: no such file")
        return cfg.retention_text
    return Path(str(resources.files("kgtools.evaluate") / "data" / "retention.txt"))


def evaluate(cfg: EvalConfig, data: Artifact, stages: Sequence[Artifact], store: ArtifactStore, *, force: bool = False,
             progress: Callable[[str], None] | None = None, labels: Sequence[str] | None = None) -> EvalResult:
    """Evaluate the base model and every train artifact in ``stages`` (in pipeline order). ``labels`` names
    them in the report (default :func:`stage_labels`): an update pipeline names its baselines
    (``no_replay/kg_sft``, ``retrain/reinforce``) this way."""
    if data.stage not in ("synth", "synth_update", "dedupe"):
        raise EvalInputError(f"{data.path}: a {data.stage!r} artifact; evaluation takes a synth or dedupe artifact")
    if not stages:
        raise EvalInputError("nothing to evaluate: give at least one train artifact")
    for s in stages:
        if not s.stage.startswith("train/"):
            raise EvalInputError(f"{s.path}: a {s.stage!r} artifact, not a train stage")
    names = list(labels) if labels is not None else stage_labels(stages)
    if len(names) != len(stages) or len(set(names)) != len(names) or "base" in names:
        raise EvalInputError(f"evaluation labels {names}: one distinct name per train artifact, not 'base'")
    say = progress or (lambda _msg: None)
    text = retention_path(cfg)
    inputs = {f"{data.stage}:{data.key}": data.key, "retention": file_digest(text),
              **{f"{label}:{s.stage}": s.key for label, s in zip(names, stages, strict=True)}}
    key = artifact_key(STAGE, cfg.hashable(), inputs)

    def build(tmp: Path) -> dict[str, Any]:
        return _build_into(tmp, cfg, data, list(stages), names, text, say)

    artifact, built = store.build(STAGE, key, cfg.model_dump(mode="json"), inputs, build, force=force)
    return EvalResult(artifact, built)


def eval_splits(cfg: EvalConfig, data: Artifact, available: Sequence[str]) -> list[str]:
    """The splits to evaluate: ``evaluate.splits`` if set, else the data's own — the test splits, or of a
    ``synth_update`` artifact the update splits it has (a release that corrected nothing has no test_removed)."""
    if cfg.splits is not None:
        return list(cfg.splits)
    if data.stage == "synth_update":
        have = [s for s in UPDATE_EVAL_SPLITS if s in available]
        if not have:
            raise EvalInputError(f"{data.path}: update data without an evaluation split ({', '.join(UPDATE_EVAL_SPLITS)})")
        return have
    return list(DEFAULT_EVAL_SPLITS)


def stage_labels(stages: Sequence[Artifact]) -> list[str]:
    """A name per train artifact for the report: its stage (``kg_sft``, ``reinforce``), ``update/<stage>`` for
    one trained on update data (so the old release's reinforce and the update's are told apart), and a
    ``#2``… suffix where two would still share a name."""
    labels: list[str] = []
    for art in stages:
        name = art.stage.split("/", 1)[1]
        if any(k.startswith("synth_update:") for k in art.manifest.get("inputs") or {}):
            name = f"update/{name}"
        label, n = name, 1
        while label in labels:
            n += 1
            label = f"{name}#{n}"
        labels.append(label)
    return labels


def sample_per_group(groups: dict[Any, list[dict[str, Any]]], limit: int | None, seed: int) -> list[dict[str, Any]]:
    """At most ``limit`` rows of each group (a seeded sample per group, groups in sorted order)."""
    out = []
    for key in sorted(groups):
        rows = groups[key]
        if limit is not None and len(rows) > limit:
            rows = random.Random(f"{seed}:{key}").sample(rows, limit)
        out += rows
    return out


def _sample(examples: list[dict[str, Any]], cfg: EvalConfig) -> list[dict[str, Any]]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        by_task[ex["task"]].append(ex)
    return sample_per_group(by_task, cfg.max_per_task, cfg.seed)


def _build_into(tmp: Path, cfg: EvalConfig, data: Artifact, stages: list[Artifact], names: list[str], text_path: Path,
                say: Callable[[str], None]) -> dict[str, Any]:
    from datasets import load_from_disk

    from kgtools.models import load_base_model, load_stage_model

    started = time.perf_counter()
    dd = load_from_disk(str(data.path / "dataset"))
    wanted = eval_splits(cfg, data, list(dd))
    missing = [s for s in wanted if s not in dd]
    if missing:
        raise EvalInputError(f"{data.path}: no split {missing[0]!r} (has: {', '.join(dd)}); set evaluate.splits")
    splits = {s: _sample(dd[s].to_list(), cfg) for s in wanted}
    entities = _entity_names(dd)
    retention = text_path.read_text("utf-8")

    trust = cfg.trust_remote_code
    runs: list[tuple[str, Callable[[], Any], bool]] = []
    if cfg.include_base:
        runs.append(("base", lambda: load_base_model(stages[0], trust_remote_code=trust), False))
    for art, label in zip(stages, names, strict=True):
        if label == "kg_sft" and cfg.with_context:
            runs.append(("kg_sft+context", lambda art=art: load_stage_model(art, trust_remote_code=trust), True))
        runs.append((label, lambda art=art: load_stage_model(art, trust_remote_code=trust), False))

    results: dict[str, Any] = {}
    outcomes: list[dict[str, Any]] = []
    routing: dict[str, dict[str, dict[int, list[float]]] | None] = {}
    total = len(runs) * sum(len(r) for r in splits.values())
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        say(Steps("evaluate", done, total, unit="example"))

    for label, load, with_context in runs:
        say(f"evaluating {label}: loading")
        model, tokenizer = load()
        model.to(inference_device())
        per_split = {}
        for split, rows in splits.items():
            record: list[dict[str, Any]] = []
            say(f"evaluating {label} on {split}")
            per_split[split] = evaluate_split(model, tokenizer, rows, entities, cfg, with_context=with_context,
                                              record=record, advance=advance)
            outcomes += [{"model": label, "split": split, **r} for r in record]
        if data.stage == "synth_update" and not with_context:
            routing[label] = _routing_shares(model, tokenizer, splits)
        per_split["retention"] = {"perplexity": probe.perplexity(model, tokenizer, retention),
                                  "text": text_path.name}
        results[label] = per_split
        del model

    import pandas as pd

    pd.DataFrame(outcomes, columns=list(OUTCOME_COLUMNS)).to_parquet(tmp / "outcomes.parquet", index=False)
    metrics = {"stages": results, "splits": {s: len(r) for s, r in splits.items()},
               "goals": goals(results), "seconds": round(time.perf_counter() - started, 1)}
    if data.stage == "synth_update":
        from kgtools.evaluate.update import update_metrics

        metrics["update"] = update_metrics(results, outcomes, [lab for lab, _, _ in runs], dict(zip(names, stages, strict=True)),
                                           data.key, routing)
        metrics["goals"] = metrics["update"]["goals"]
    write_json_atomic(tmp / "metrics.json", metrics)
    headline_split = "test_changed" if data.stage == "synth_update" else "test_paraphrase"
    from kgtools.evaluate.report import write_report

    say("writing the report")
    write_report(tmp, metrics, stages)
    if board.available():
        _write_board(tmp / board.TENSORBOARD_DIR, metrics, stages, [lab for lab, _, _ in runs])
    return {"counts": {"models": len(results), **{f"{s}_examples": len(r) for s, r in splits.items()}},
            "goals": metrics["goals"],
            "headline": headline(results, headline_split), "headline_split": headline_split}


def _write_board(folder: Path, metrics: dict[str, Any], stages: list[Artifact], labels: list[str]) -> None:
    """TensorBoard: each split's accuracies with the models in order as steps (0 = the first model), and the
    routing heat maps — before the first stage and after each one — as images."""
    import pyarrow.parquet as pq

    writer = board.writer_for(folder)
    writer.add_text("models", "\n".join(f"step {i}: {label}" for i, label in enumerate(labels)))
    for i, label in enumerate(labels):
        for split, m in metrics["stages"].get(label, {}).items():
            if isinstance(m, dict) and "mcq" in m:
                for name, value in (("multiple_choice", m["mcq"].get("accuracy")), ("open_exact_match", m.get("open_em")),
                                    ("true_false", (m.get("yes_no") or {}).get("accuracy"))):
                    if value is not None:
                        writer.add_scalar(f"eval/{split}/{name}", value, i)
    rows = []
    for n, stage in enumerate(stages):
        path = stage.path / "routing.parquet"
        if path.is_file():
            table = pq.read_table(path).to_pylist()
            moments = ("before", "after") if n == 0 else ("after",)
            rows += [{**r, "when": r["when"] if r["when"] == "before" else stage.stage.split("/")[-1]}
                     for r in table if r["when"] in moments]
    if rows:
        board.add_heatmaps(writer, rows, "evaluate")
    writer.close()


ROUTING_SAMPLE = 64  # examples per group whose routing is compared before and after an update


def _routing_shares(model, tokenizer, splits: dict[str, list[dict[str, Any]]]) -> dict[str, dict[int, list[float]]] | None:
    """Per group of update examples — ``changed`` (test_changed) and ``unchanged`` (locality near and far) —
    each MoE layer's token share per expert over the examples' prompt and answer; None for a dense model."""
    from kgtools.chat import encode
    from kgtools.models import routers
    from kgtools.routing import record_routing

    if not routers(model):
        return None
    groups = {"changed": splits.get("test_changed", []),
              "unchanged": splits.get("test_locality_near", []) + splits.get("test_locality_far", [])}
    out = {}
    for group, rows in groups.items():
        rows = sorted(rows, key=lambda ex: ex["id"])[:ROUTING_SAMPLE]
        if not rows:
            continue
        seqs = [p + a for p, a in (encode(tokenizer, prompt_messages(ex, with_context=False), ex["answer"]) for ex in rows)]
        stats = record_routing(model, seqs, pad_id=tokenizer.pad_token_id or 0)
        out[group] = {layer: stats.share(layer).round(6).tolist() for layer in sorted(stats.counts)}
    return out


def inference_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _entity_names(dd) -> set[str]:
    """Every concept name the data knows (answers, their synonyms, choices): a wrong answer that is one of
    these is a confident domain hallucination, not noise."""
    names: set[str] = set()
    for ds in dd.values():
        for aliases in ds["answer_aliases"]:
            for group in aliases or []:
                names.update(scoring.normalise(a) for a in group)
        for choices in ds["choices"]:
            names.update(scoring.normalise(c) for c in choices or [])
    names.discard("")
    return names


def evaluate_split(model, tokenizer, rows: list[dict[str, Any]], entities: set[str], cfg: EvalConfig, *,
                   with_context: bool, record: list[dict[str, Any]] | None = None,
                   advance: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Scores of one model on one split's examples; ``record`` (if given) receives one row per example:
    its id, task, how it was asked (open, mcq, yes_no), whether the answer was right, and for a question whose
    object a new release corrected (negative kind ``stale``) whether the model still says or prefers the old one.
    ``advance(n)`` is told each time ``n`` more examples are scored (``len(rows)`` in all)."""
    ask = _Asking(model, tokenizer, cfg, with_context, record.append if record is not None else (lambda _row: None),
                  advance)
    out, per_task = _score_open(ask, rows, entities)
    mcq, correct = _score_mcq(ask, rows)
    out["mcq"] = mcq
    out["inferred"] = {k: {"n": n, "accuracy": _div(ok, n)} for k, (ok, n) in ask.inferred.items()}
    out["yes_no"], right = _score_yes_no(ask, rows)
    open_items = sum(v["n"] for v in per_task.values())
    out["open_em"] = _div(sum(v["em"] for v in per_task.values()), open_items)
    out["open_contains"] = _div(sum(v["contains"] for v in per_task.values()), open_items)
    entity_items = sum(v["n"] for t, v in per_task.items() if t in OPEN_TASKS)
    entity_em = sum(v["em"] for t, v in per_task.items() if t in OPEN_TASKS)
    out["open_entity_em"] = _div(entity_em, entity_items)
    out["open_entity_contains"] = _div(sum(v["contains"] for t, v in per_task.items() if t in OPEN_TASKS), entity_items)
    out["accuracy"] = _div(sum(v["em"] for v in per_task.values()) + correct + right,
                           open_items + mcq["n"] + out["yes_no"]["n"])
    ask.scored(len(rows) - ask.counted)  # examples of no asked kind (a multiple-choice question without choices)
    return out


class _Asking:
    """What the three ways of asking share: the model, how a prompt is built, the per-example record, the
    progress count, and the tally of inferred facts (facts the graph entails but does not state, asked like stated
    ones; among them the probes — never trained, every fact they follow from trained: does the model infer?)."""

    def __init__(self, model, tokenizer, cfg: EvalConfig, with_context: bool, note: Callable[[dict[str, Any]], None],
                 advance: Callable[[int], None] | None) -> None:
        self.model, self.tokenizer, self.cfg, self.with_context = model, tokenizer, cfg, with_context
        self.note, self.advance, self.counted = note, advance, 0
        self.inferred: dict[str, list[int]] = {k: [0, 0] for k in ("open", "mcq", "probe_open", "probe_mcq")}

    def prompt(self, ex: dict[str, Any]) -> list[dict[str, str]]:
        return prompt_messages(ex, with_context=self.with_context)

    def scored(self, n: int) -> None:
        self.counted += n
        if self.advance is not None and n:
            self.advance(n)

    def choose(self, items: list[tuple[dict[str, Any], list[str]]]) -> list[tuple[int, Any]]:
        return probe.choose_many(self.model, self.tokenizer, [(self.prompt(ex), choices) for ex, choices in items],
                                 batch_size=self.cfg.batch_size)

    def tally_inferred(self, ex: dict[str, Any], kind: str, ok: bool) -> None:
        if ex.get("inferred"):
            self.inferred[kind][0] += ok
            self.inferred[kind][1] += 1
            if (ex.get("split_reason") or "").startswith("inferred fact never trained"):
                self.inferred[f"probe_{kind}"][0] += ok
                self.inferred[f"probe_{kind}"][1] += 1


def _score_open(ask: _Asking, rows: list[dict[str, Any]], entities: set[str]) -> tuple[dict[str, Any], dict[str, dict]]:
    """Open questions by greedy generation: exact match and containment per task and relation, wrong entities
    (said confidently or not), whether a corrected fact's old object is still said or preferred, samples."""
    cfg = ask.cfg
    open_rows = [ex for ex in rows if ex["task"] in (*OPEN_TASKS, *VALUE_TASKS, "definition")]
    answers = probe.generate(ask.model, ask.tokenizer, [ask.prompt(ex) for ex in open_rows],
                             max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size, on_batch=ask.scored)
    per_task: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "em": 0, "contains": 0})
    per_rel: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "em": 0, "contains": 0})
    wrong = {"n": 0, "wrong_entity": 0, "confident_wrong_entity": 0}
    stale_rows = [ex for ex in open_rows if ex.get("negative_kind") == "stale" and ex.get("rejected")]
    old_picks = ask.choose([(ex, [ex["answer"], ex["rejected"]]) for ex in stale_rows])
    prefers_old = {ex["id"]: best == 1 for ex, (best, _) in zip(stale_rows, old_picks, strict=True)}
    samples = []
    for ex, (text, conf) in zip(open_rows, answers, strict=True):
        em, contains = scoring.score_open(ex, text)
        stale = ex["id"] in prefers_old
        ask.note({"id": ex["id"], "task": ex["task"], "asked": "open", "ok": bool(em), "said": text,
                  "says_old": bool(scoring.exact_match(text, [ex["rejected"]])) if stale else None,
                  "prefers_old": prefers_old.get(ex["id"])})
        if ex["task"] in OPEN_TASKS:
            ask.tally_inferred(ex, "open", em)
        for bucket in (per_task[ex["task"]], per_rel[ex.get("relation") or "-"] if ex["task"] in (*OPEN_TASKS, *VALUE_TASKS) else None):
            if bucket is not None:
                bucket["n"] += 1
                bucket["em"] += em
                bucket["contains"] += contains
        if ex["task"] in OPEN_TASKS and ex["task"] != "list":
            wrong["n"] += 1
            said = scoring.normalise(scoring.final_answer(text))
            if not em and said in entities:
                wrong["wrong_entity"] += 1
                wrong["confident_wrong_entity"] += conf >= cfg.confident
        if len(samples) < 12:
            samples.append({"task": ex["task"], "prompt": ex["prompt"], "gold": ex["answer"], "said": text,
                            "confidence": round(conf, 3), "em": em})
    out = {"open": {t: _rates(v) for t, v in sorted(per_task.items())},
           "by_relation": {r: _rates(v) for r, v in sorted(per_rel.items())},
           "wrong_entities": {**wrong, "wrong_entity_rate": _div(wrong["wrong_entity"], wrong["n"]),
                              "confident_wrong_entity_rate": _div(wrong["confident_wrong_entity"], wrong["n"])},
           "samples": samples}
    return out, per_task


def _score_mcq(ask: _Asking, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """Multiple choice by log-likelihood, no generation: (scores, questions answered right)."""
    mcq = [ex for ex in rows if ex["task"] == "mcq" and ex["choices"]]
    correct = diagnosis = diagnosis_right = 0
    picks = ask.choose([(ex, ex["choices"]) for ex in mcq])
    ask.scored(len(mcq))
    for ex, (best, _) in zip(mcq, picks, strict=True):
        correct += best == ex["answer_index"]
        ask.note({"id": ex["id"], "task": ex["task"], "asked": "mcq", "ok": best == ex["answer_index"],
                  "said": ex["choices"][best], "says_old": None, "prefers_old": None})
        ask.tally_inferred(ex, "mcq", best == ex["answer_index"])
        if ex["template_id"].startswith("diagnosis/"):  # the multiple-choice form of a diagnosis question
            diagnosis += 1
            diagnosis_right += best == ex["answer_index"]
    return {"n": len(mcq), "accuracy": _div(correct, len(mcq)),
            "chance": _div(sum(1 / len(ex["choices"]) for ex in mcq), len(mcq)),
            "diagnosis": {"n": diagnosis, "accuracy": _div(diagnosis_right, diagnosis)}}, correct


def _score_yes_no(ask: _Asking, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """True/false: which of the two answers is likelier; accepting a corrupted fact is a hallucination.
    (scores, statements judged right)."""
    yn = [ex for ex in rows if ex["task"] == "yes_no" and ex.get("rejected")]
    right = accepted = corrupted = true_accepted = true = 0
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    picks = ask.choose([(ex, [ex["answer"], ex["rejected"]]) for ex in yn])
    ask.scored(len(yn))
    for ex, (best, _) in zip(yn, picks, strict=True):
        right += best == 0
        ask.note({"id": ex["id"], "task": ex["task"], "asked": "yes_no", "ok": best == 0,
                  "said": (ex["answer"], ex["rejected"])[best], "says_old": None, "prefers_old": None})
        if scoring.truth_value(ex["answer"]) is False:
            by_kind[ex.get("negative_kind") or "unasserted"][0] += best == 1
            by_kind[ex.get("negative_kind") or "unasserted"][1] += 1
            if ex.get("negative_kind") in SURE_NEGATIVE_KINDS:
                corrupted += 1
                accepted += best == 1
        else:
            true += 1
            true_accepted += best == 0
    # Corrupted facts count as hallucinations only where the ontology makes them false (disjoint, hierarchy,
    # functional); one that is merely not stated may be true in an open world, and is reported apart.
    # Acceptance of true statements beside: a model that says "false" to everything accepts nothing.
    return {"n": len(yn), "accuracy": _div(right, len(yn)), "corrupted": corrupted,
            "acceptance_of_corrupted": _div(accepted, corrupted), "true": true,
            "acceptance_of_true": _div(true_accepted, true),
            "acceptance_by_kind": {k: {"n": n, "accepted": _div(a, n)} for k, (a, n) in sorted(by_kind.items())}}, right


def _rates(v: dict[str, float]) -> dict[str, float]:
    return {"n": int(v["n"]), "em": _div(v["em"], v["n"]), "contains": _div(v["contains"], v["n"])}


def _div(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def headline(results: dict[str, Any], split: str = "test_paraphrase") -> dict[str, Any]:
    """Per model: multiple choice, open exact match, accuracy and corrupted-fact acceptance on ``split``."""
    out = {}
    for label, per in results.items():
        s = per.get(split)
        if s is None:
            continue
        out[label] = {"mcq": s["mcq"]["accuracy"], "open_em": s["open_em"], "open_entity_em": s["open_entity_em"],
                      "accuracy": s["accuracy"],
                      "acceptance_of_corrupted": s["yes_no"]["acceptance_of_corrupted"],
                      "acceptance_of_true": s["yes_no"].get("acceptance_of_true"),
                      "perplexity": round(per["retention"]["perplexity"], 2)}
    return out


def _balanced(h: dict[str, Any]) -> float | None:
    true, corrupted = h.get("acceptance_of_true"), h.get("acceptance_of_corrupted")
    return None if true is None or corrupted is None else round((true + 1 - corrupted) / 2, 4)


def goals(results: dict[str, Any], split: str = "test_paraphrase") -> list[dict[str, Any]]:
    """The injection goals, measured on trained facts asked with unseen templates (issue 7)."""
    h = headline(results, split)
    last = next((s for s in ("reinforce", "distill", "kg_sft") if s in h), None)
    out = []

    def goal(name: str, value, target, ok) -> None:
        out.append({"goal": name, "value": value, "target": target, "met": bool(ok) if ok is not None else None})

    if last:
        goal(f"multiple-choice accuracy after {last} ≥ 0.85", h[last]["mcq"], 0.85,
             h[last]["mcq"] is not None and h[last]["mcq"] >= 0.85)
        goal(f"open exact match after {last} ≥ 0.6", h[last]["open_em"], 0.6,
             h[last]["open_em"] is not None and h[last]["open_em"] >= 0.6)
    if "distill" in h and "kg_sft+context" in h and h["kg_sft+context"]["accuracy"]:
        target = round(0.9 * h["kg_sft+context"]["accuracy"], 4)
        goal("accuracy after distill (no context) ≥ 0.9 × kg_sft with context", h["distill"]["accuracy"], target,
             h["distill"]["accuracy"] >= target)
    if "reinforce" in h and "distill" in h and h["distill"]["acceptance_of_corrupted"] is not None:
        target = round(0.5 * h["distill"]["acceptance_of_corrupted"], 4)
        goal("corrupted facts accepted after reinforce ≤ ½ × after distill", h["reinforce"]["acceptance_of_corrupted"],
             target, h["reinforce"]["acceptance_of_corrupted"] <= target)
        # a model that rejects everything accepts no corrupted fact: the drop counts only if true/false
        # judgement got better, i.e. balanced accuracy (mean of true accepted and corrupted rejected) did not fall
        before, after = _balanced(h["distill"]), _balanced(h["reinforce"])
        if before is not None and after is not None:
            goal("true/false balanced accuracy after reinforce ≥ after distill (not a 'false' bias)", after, before,
                 after >= before)
    return out
