"""Update data: from a kg diff (two releases of an ontology) to the examples that move a model tuned on the old
release to the new one, without retraining it from scratch.

The new release is synthesised as usual (every task, every fact trainable, more phrasings per fact), and each
example is sorted by what it is about:

- **changed** — it rests on a fact the new release added or changed (``fact_added``, ``fact_changed``, ``moved``,
  ``qualifier_changed``), or asks a definition, synonym or name that changed, or is about a new or relabelled
  concept (every question that names it teaches the new name): its training phrasings go to ``train``, its other
  phrasings to ``test_changed`` (efficacy on unseen phrasings);
- **consequence** — it rests on a fact the new release newly entails (``inferred_added``), or is a multi-hop
  question whose chain runs through a changed fact and on through an unchanged one: never trained, its
  evaluation phrasings go to ``test_portability`` (does the model carry the change one hop further?);
- **unchanged** — everything else: training examples are candidates for replay, sampled to ``replay`` times the
  changed training examples and weighted toward concepts near a change (``near_hops`` edges either way,
  ``near_weight`` times likelier); evaluation examples fill ``test_locality_near`` and ``test_locality_far``.

A **correction** — a subject and relation whose old objects the new release replaced (``fact_changed``, ``moved``)
— also gives the model what to stop saying: its questions prefer the new object to the old (``rejected``, negative
kind ``stale``: the preference pairs of the reinforce stage). The old statement is asked true/false with the answer
False (once in ``train``, once in the other wording in ``test_removed``) only where the release withdrew it: the new
object is more general than the old (rubella: West Nile encephalitis → viral infectious disease) or the relation
takes exactly one value — never where the new graph still entails it, and never for a refinement or a sideways
move (hepatitis A: viral infectious disease → viral hepatitis leaves "hepatitis A is a viral infectious disease"
true for a physician). A fact removed with nothing in its place is not called false either: the release stopped
stating it, which in an open-world ontology does not make it untrue (counted, not asked).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from typing import Any

import networkx as nx

from kgtools.config import TRAINING_SPLITS, SynthConfig
from kgtools.graph.model import IS_A, KnowledgeGraph
from kgtools.graph.templates import capitalise, render
from kgtools.synth.cardinality import YES_NO
from kgtools.synth.facts import unit_hash
from kgtools.synth.generate import Synthesizer

CHANGED_FACTS = ("fact_added", "fact_changed", "moved", "qualifier_changed")
CORRECTIONS = ("fact_changed", "moved")
CONCEPT_CHANGES = {"definition_changed": ("definition",), "synonym_added": ("synonym",),
                   "synonym_removed": ("synonym",)}
WHOLE_CONCEPT = ("concept_added", "relabelled")  # every question naming the concept teaches its (new) name


def update_config(cfg: SynthConfig) -> SynthConfig:
    """The synth settings for the new release: every fact trainable (no held-out facts or probes: what is
    held out is decided by the diff), more phrasings, an unseen phrasing reserved for every fact group."""
    return cfg.model_copy(update={
        "templates_per_fact": cfg.update.templates_per_fact,
        "splits": cfg.splits.model_copy(update={"heldout": 0.0, "novel_template": 1.0, "entity_disjoint": False}),
        "inferred": cfg.inferred.model_copy(update={"heldout": 0.0}),
    })


def update_examples(cfg: SynthConfig, new: KnowledgeGraph, old: KnowledgeGraph,
                    changes: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The update examples and a report (counts per split and kind of change, what was left out and why)."""
    from kgtools.synth.stage import generate_examples

    ucfg = update_config(cfg)
    u = cfg.update
    changed = {f"{r['id']}|{r['relation']}|{o}" for r in changes if r["change"] in CHANGED_FACTS for o in r["new_ids"]}
    consequences = {f"{r['id']}|{r['relation']}|{o}" for r in changes if r["change"] == "inferred_added"
                    for o in r["new_ids"]}
    about: dict[str, set[str]] = defaultdict(set)  # task → concepts whose answer of that task changed
    whole = set()
    for r in changes:
        for task in CONCEPT_CHANGES.get(r["change"], ()):
            about[task].add(r["id"])
        if r["change"] in WHOLE_CONCEPT:
            whole.add(r["id"])
    corrections = {(r["id"], r["relation"]): r for r in changes if r["change"] in CORRECTIONS}
    touched = {r["id"] for r in changes} | {o for r in changes for o in r["new_ids"]}
    touched &= set(new.g)

    examples, report = generate_examples(ucfg, new)
    stats: Counter = Counter()
    out: list[dict[str, Any]] = []
    replay_pool: list[dict[str, Any]] = []
    locality: dict[str, list[dict[str, Any]]] = {"near": [], "far": []}
    distance = _distances(new, touched, u.near_hops)
    syn = Synthesizer(new, ucfg)
    for e in examples:
        keys = set(e["triples"])
        training = e["split"] in TRAINING_SPLITS
        # one hop from a change: a newly entailed fact, or a chain of facts through a changed one
        ripple = (keys & consequences and not keys & changed) or (e["task"] == "multi_hop" and keys & changed
                                                                   and keys - changed)
        if ripple:
            if not training:
                out.append({**e, "split": "test_portability", "split_reason": "one hop from a change, never trained"})
            stats["consequence_train_left_out" if training else "consequence"] += 1
        elif keys & changed or e["subject"] in whole or e["subject"] in about.get(e["task"], ()):
            e = _reject_stale(e, corrections, old, syn)  # train: the preference pair; test: the stale answer to watch
            if training:
                out.append(e)
            else:
                out.append({**e, "split": "test_changed", "split_reason": "changed fact, a phrasing never trained"})
            stats["changed_train" if training else "changed_eval"] += 1
        elif training:
            replay_pool.append(e)
        else:
            where = "near" if e["subject"] in distance else "far"
            locality[where].append(e)
    # corrections: the old statement, now false
    for _, row in sorted(corrections.items()):
        out.extend(_stale_statements(syn, new, old, row, stats))
    removed_only = [r for r in changes if r["change"] == "fact_removed"]
    stats["removed_not_asked_open_world"] = sum(len(r["old_ids"]) for r in removed_only)
    # replay, weighted toward what is near a change (Efraimidis–Spirakis: the largest u^(1/w) are kept)
    n_replay = round(u.replay * sum(1 for e in out if e["split"] == "train"))
    weight = lambda e: u.near_weight if e["subject"] in distance else 1.0  # noqa: E731
    replay_pool.sort(key=lambda e: -unit_hash(cfg.seed, "replay", e["id"]) ** (1 / weight(e)))
    replayed = replay_pool[:n_replay]
    for e in replayed:
        out.append({**e, "split_reason": "replay of an unchanged fact"})
    stats["replay"] = len(replayed)
    stats["replay_near"] = sum(1 for e in replayed if e["subject"] in distance)
    for where, rows in locality.items():
        rows.sort(key=lambda e: unit_hash(cfg.seed, "locality", e["id"]))
        for e in rows[: u.max_locality]:
            out.append({**e, "split": f"test_locality_{where}",
                        "split_reason": f"unchanged fact {'near' if where == 'near' else 'far from'} a change"})
    out.sort(key=lambda e: (e["split"], e["id"]))
    return out, {"update": dict(sorted(stats.items())), "generator": report["generator"],
                 "near_concepts": len(distance), "changed_facts": len(changed), "consequences": len(consequences),
                 "corrections": len(corrections)}


def _distances(kg: KnowledgeGraph, sources: set[str], hops: int) -> dict[str, int]:
    """Concepts within ``hops`` edges of a changed one, either direction, with their distance."""
    if not sources:
        return {}
    return dict(nx.multi_source_dijkstra_path_length(kg.g.to_undirected(as_view=True), sources, cutoff=hops))


def _reject_stale(e: dict[str, Any], corrections: dict, old: KnowledgeGraph, syn: Synthesizer) -> dict[str, Any]:
    """A question about a corrected subject and relation rejects the old object (the preference pair)."""
    row = corrections.get((e["subject"], e["relation"]))
    if row is None or e["task"] not in ("fact_qa", "list") or not e["answer_ids"]:
        return e
    stale = [old.label(o) for o in row["old_ids"] if o not in e["accepted_ids"]]
    if not stale:
        return e
    said = stale[0] if len(stale) == 1 else ", ".join(stale[:-1]) + " and " + stale[-1]
    return {**e, "rejected": said, "negative_kind": "stale"}


def _stale_statements(syn: Synthesizer, new: KnowledgeGraph, old: KnowledgeGraph, row: dict[str, Any],
                      stats: Counter) -> list[dict[str, Any]]:
    s, r = row["id"], row["relation"]
    if s not in syn.ix.label:
        stats["stale_skipped_unnamed"] += 1
        return []
    out = []
    entailed = syn.ix.closure(s, r) if r != IS_A else new.ancestors(s)
    functional = r != IS_A and syn.ix.has_exactly_one(s, r)
    for o in row["old_ids"]:
        if o in entailed or o in row["new_ids"]:
            stats["stale_still_entailed"] += 1
            continue
        # false only where the release withdrew the claim: it now says something more general in its place
        # (rubella: West Nile encephalitis → viral infectious disease) or the relation takes one value; a
        # refinement or a sideways move (hepatitis A: viral infectious disease → viral hepatitis, a root of
        # the slim) leaves the old statement true for a domain expert — asked by preference only
        general = any(n in g.ancestors(o) for n in row["new_ids"] for g in (old, new) if o in g)
        if not (general or functional):
            stats["stale_not_called_false"] += 1
            continue
        name = syn.name(o) if o in syn.ix.label else old.label(o)
        try:
            templates = syn.book.get(r).statements
        except KeyError:
            stats["stale_skipped_no_phrasing"] += 1
            continue
        statement = capitalise(render(templates[0], {"subject": (syn.name(s), None), "object": (name, None)})[0])
        if not statement.endswith("."):
            statement += "."
        for i, (split, reason) in enumerate((("train", "corrected fact, now to reject"),
                                             ("test_removed", "corrected fact, a wording never trained"))):
            form, yes, no = YES_NO[i % len(YES_NO)]
            prompt = form.format(statement=statement)
            ident = hashlib.blake2b("\x1f".join(["yes_no", "stale", prompt, no]).encode(), digest_size=8).hexdigest()
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": no}]
            if syn.cfg.system_prompt:
                messages.insert(0, {"role": "system", "content": syn.cfg.system_prompt})
            out.append({
                "id": ident, "task": "yes_no", "split": split, "split_reason": reason,
                "template_id": f"stale/s{i}", "prompt": prompt, "answer": no, "answer_ids": [],
                "accepted_ids": [], "answer_aliases": [[no]], "choices": [], "answer_index": -1, "rejected": yes,
                "negative_kind": "stale", "distractor_kinds": [], "context": "", "triples": [],
                "path": [s, o], "relation": r, "subject": s, "messages": messages, "inferred": False,
                "justification": [],
            })
            stats[f"stale_{split}"] += 1
    return out
