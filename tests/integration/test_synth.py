"""Synthesis on real graphs, checked by an independent re-derivation of every answer from the graph.

The checker below does not use kgtools.synth: it walks the KnowledgeGraph's networkx edges itself."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys

import pytest

from kgtools.artifacts import ArtifactStore
from kgtools.config import TASKS, KgConfig, SynthConfig
from kgtools.graph.english import clean_text
from kgtools.graph.model import KnowledgeGraph, stated
from kgtools.graph.stage import build_kg
from kgtools.synth.stage import generate_examples, synthesize

from ..conftest import BUNDLED, shared_path

YES, NO = {"True", "Yes"}, {"False", "No"}


NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def span(word: str, n: int) -> tuple[float, float]:
    return {"exactly": (n, n), "min": (n, float("inf")), "max": (0, n)}[word]


def disjoint(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[1] < b[0] or b[1] < a[0]


def quantities(text: str) -> list[tuple[str, int]]:
    """The quantities a text says: 'exactly one', 'at least two', 'at most 1', 'none' / 'has no …'."""
    out = []
    for m in re.finditer(r"\b(exactly|at least|at most) (\w+)\b|\bnone\b|\bno\b", text):
        if m.group(1):
            n = NUMBER_WORDS.get(m.group(2).lower()) or int(m.group(2))
            out.append(({"exactly": "exactly", "at least": "min", "at most": "max"}[m.group(1)], n))
        else:
            out.append(("max", 0))
    return out


class Checker:
    """Re-derives truth from the graph: asserted edges, is_a ancestors, inheritance down is_a, and
    existential entailment up the object's ancestors."""

    def __init__(self, kg: KnowledgeGraph):
        self.kg = kg
        self.g = kg.g
        self.by_label: dict[str, set[str]] = {}
        for n, d in self.g.nodes(data=True):
            if d.get("label"):
                self.by_label.setdefault(d["label"], set()).add(n)
                inline = " ".join(d["label"].split())  # how a label reads in a sentence: one line, ...
                if inline.endswith(".") and len(inline.split()) >= 4:  # ... no full stop of its own
                    inline = inline[:-1]
                self.by_label.setdefault(inline, set()).add(n)
                # concepts that share a label are shown with a parent's: "parent (relationship role)"
                for _, p, k in self.g.out_edges(n, keys=True):
                    if k == "is_a" and self.g.nodes[p].get("label"):
                        self.by_label.setdefault(f"{d['label']} ({self.g.nodes[p]['label']})", set()).add(n)

        self.inferred = self.verify_inferred(kg)
        self.by_name: dict[str, set[str]] = {}  # every label and synonym, case-folded
        for n, d in self.g.nodes(data=True):
            for x in [d.get("label") or "", *(d.get("synonyms") or ())]:
                if x:
                    self.by_name.setdefault(" ".join(x.split()).casefold(), set()).add(n)

    def verify_inferred(self, kg: KnowledgeGraph) -> dict[tuple[str, str], set[str]]:
        """Check every inferred fact of the kg (inferred.parquet) step by step: its premises are stated edges
        or inferred facts checked before, and its rule applies by relations.json. Returns them by (s, r)."""
        axioms = kg.meta.get("relations") or {}
        rows = sorted(kg.meta.get("inferred") or (), key=lambda row: row["depth"])
        ok: set[tuple[str, str, str]] = set()

        def premise(k: str) -> tuple[str, str, str]:
            s, r, o = k.split("|")
            stated_edge = self.g.has_edge(s, o, key=r) and stated(self.g.edges[s, o, r]["qualifier"])
            assert stated_edge or (s, r, o) in ok, f"premise {k} is neither stated nor inferred before"
            return s, r, o

        for row in rows:
            s, r, o, rule = row["src"], row["rel"], row["dst"], row["rule"]
            ps = [premise(k) for k in row["premises"]]
            a = axioms.get(ps[0][1], {})
            if rule == "inherited":
                (c, isa, parent), (p2, r2, o2) = ps
                assert isa == "is_a" and c == s and p2 == parent and (r2, o2) == (r, o), row
            elif rule in ("transitive", "chain"):
                (x, p, b), (b2, q, c) = ps
                assert (x, c) == (s, o) and b == b2, row
                assert (rule == "transitive" and p == q == r and axioms[r]["transitive"]) or [p, q] in axioms[r]["chains"], row
            elif rule == "sub_property":
                (x, p, y), = ps
                assert (x, y) == (s, o) and r in a["sub_property_of"], row
            elif rule in ("inverse", "symmetric"):
                (x, p, y), = ps
                assert (x, y) == (o, s) and (r in a["inverse_of"] if rule == "inverse" else (p == r and a["symmetric"])), row
                assert self.g.nodes[x]["kind"] != "class" and self.g.nodes[y]["kind"] != "class", row
            elif rule == "domain":
                (x, p, _), = ps
                assert x == s and r in ("is_a", "instance_of") and o in a["domain"], row
            elif rule == "range":
                (_, p, y), = ps
                assert y == s and r == "instance_of" and o in a["range"], row
            else:
                raise AssertionError(f"unknown rule {rule}")
            ok.add((s, r, o))
        out: dict[tuple[str, str], set[str]] = {}
        for s, r, o in ok:
            out.setdefault((s, r), set()).add(o)
        return out

    def literal_values(self, n: str, kind: str) -> list[str]:
        """The raw values of one literal kind on a node: ``xref:MESH`` → its 'MESH:…'/'MeSH:…' xrefs (version
        stamps in the prefix ignored), ``literal:<property>`` → that property's values."""
        d = self.g.nodes[n]
        if kind.startswith("xref:"):
            system = kind[5:]
            return [x for x in d.get("xrefs") or () if re.sub(r"_\d{4}(_\d\d_\d\d)?$", "", x.split(":")[0]).upper() == system]
        prop = kind[len("literal:"):]
        return [v for p, v in zip(d.get("literal_properties") or (), d.get("literal_values") or (), strict=True) if p == prop]

    def up(self, n: str) -> set[str]:
        seen, stack = set(), [n]
        while stack:
            x = stack.pop()
            for p in [p for _, p, k in self.g.out_edges(x, keys=True) if k == "is_a"] + list(self.inferred.get((x, "is_a"), ())):
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
        return seen

    def asserted(self, s: str, r: str) -> set[str]:
        """Stated on s, or inferred for s by a checked proof."""
        stated_ = {o for _, o, k, d in self.g.out_edges(s, keys=True, data=True) if k == r and stated(d["qualifier"])}
        return stated_ | self.inferred.get((s, r), set())

    def entailed(self, s: str, r: str) -> set[str]:
        if r == "is_a":
            return self.up(s)
        objs = set()
        for x in {s} | self.up(s):
            for o in self.asserted(x, r):
                objs |= {o} | self.up(o)
                for t in self.asserted(o, "instance_of"):  # an individual object: some member of its classes
                    objs |= {t} | self.up(t)
        return objs

    def edge(self, key: str) -> tuple[str, str, str]:
        s, r, o = key.split("|")
        assert self.g.has_edge(s, o, key=r) or o in self.inferred.get((s, r), ()), f"triple {key} is not in the graph"
        return s, r, o

    def label(self, n: str) -> str:
        return self.g.nodes[n]["label"]

    def join_ok(self, text: str, ids: list[str]) -> bool:
        """``text`` names exactly ``ids``, in order (each by its label, or label and parent)."""
        names = [sorted((lab for lab, ns in self.by_label.items() if n in ns), key=len) for n in ids]
        pattern = ", ".join(f"(?:{'|'.join(map(re.escape, group))})" for group in names[:-1])
        last = f"(?:{'|'.join(map(re.escape, names[-1]))})"
        return re.fullmatch(f"{pattern} and {last}" if len(names) > 1 else last, text) is not None

    def most_specific(self, values: set[str]) -> set[str]:
        return {v for v in values if not any(v in self.up(w) for w in values if w != v)}

    def check_cardinality(self, e: dict) -> None:
        """A cardinality question against the kg's own cardinalities table: the quantity answered is the
        axiom's, every other choice and every false statement's quantity contradicts it."""
        filler = e["path"][-1] if len(e["path"]) > 1 else ""
        rows = [c for c in self.kg.meta["cardinalities"]
                if c["src"] == e["subject"] and c["rel"] == e["relation"] and c["filler"] == filler]
        truths = [span(c["word"], c["n"]) for c in rows]
        assert truths, e["prompt"]
        said = lambda text: [span(*q) for q in quantities(text)]  # noqa: E731
        if e["task"] == "cardinality":
            assert said(e["answer"]) and said(e["answer"])[0] in truths, (e["prompt"], e["answer"])
        elif e["task"] == "mcq":
            right = [i for i, c in enumerate(e["choices"]) if not all(disjoint(said(c)[0], t) for t in truths)]
            assert right == [e["answer_index"]], (e["prompt"], e["choices"])
        else:
            q = said(e["prompt"])[-1]  # the statement's quantity comes after its subject
            if e["answer"] in YES:
                assert q in truths, e["prompt"]
            else:
                assert any(disjoint(q, t) for t in truths), e["prompt"]

    def check(self, e: dict) -> None:
        task, rel, subj = e["task"], e["relation"], e["subject"]
        if e["template_id"].startswith("cardinality/"):
            return self.check_cardinality(e)
        triples = [self.edge(t) for t in e["triples"]]
        if task == "list" and all(o == subj for _, _, o in triples):  # an inverse list: all subjects of (rel, subj)
            assert e["answer_ids"] and all(subj in self.asserted(s, rel) for s in e["answer_ids"])
            assert self.join_ok(e["answer"], e["answer_ids"])
        elif task in ("fact_qa", "list"):
            assert e["answer_ids"] and set(e["answer_ids"]) <= self.asserted(subj, rel)
            assert all(s == subj and r == rel for s, r, _ in triples)
            assert self.join_ok(e["answer"], e["answer_ids"])
            assert set(e["answer_ids"]) <= set(e["accepted_ids"]) <= self.entailed(subj, rel)
            if e["template_id"].endswith("/two"):  # "name two" of a large set: every alias group is a true answer
                assert len(e["answer_ids"]) == 2 and len(e["answer_aliases"]) > 2
        elif task == "inverse_qa":
            assert all(o in self.asserted(s, rel) for s in e["answer_ids"] for o in [subj])
            assert self.join_ok(e["answer"], e["answer_ids"])
        elif task == "diagnosis" or e["template_id"].startswith("diagnosis/"):
            # every clue holds for the answer (stated on it or an ancestor), and no other concept holds them all
            clues = {o for s, r, o in triples}
            assert len(clues) >= 2 and all(r == rel and (s == subj or s in self.up(subj)) for s, r, o in triples)
            assert all(self.label(c).casefold() in e["prompt"].casefold() for c in clues), e["prompt"]
            holders = {n for n in self.g if self.g.nodes[n].get("label") and clues <= self.entailed(n, rel)}
            assert holders == {subj}, (e["prompt"], holders)
            if task == "mcq":
                correct = [i for i, c in enumerate(e["choices"]) if self.by_label[c] & holders]
                assert correct == [e["answer_index"]], (e["prompt"], e["choices"], correct)
            else:
                assert self.join_ok(e["answer"], [subj])
        elif task == "mcq":
            truth = self.entailed(subj, rel)
            correct = [i for i, c in enumerate(e["choices"]) if self.by_label[c] & truth]
            assert correct == [e["answer_index"]], (e["prompt"], e["choices"], correct)
            assert e["choices"][e["answer_index"]] == e["answer"]
            assert len(set(e["choices"])) == len(e["choices"])
        elif task == "yes_no":
            (s, r, o), = triples
            assert o in self.asserted(s, r)
            if e["answer"] in YES:
                assert e["negative_kind"] is None and e["rejected"] in NO and rel == r
            else:
                assert e["answer"] in NO and e["rejected"] in YES
                bad_s, bad_o = e["path"]  # the corrupted fact: (bad_s, rel, bad_o), rel possibly another relation
                assert (bad_s, rel, bad_o) != (s, r, o)
                assert bad_o not in self.entailed(bad_s, rel), f"negative is true in the graph: {e['prompt']}"
                self.check_kind(e["negative_kind"], bad_s, rel, bad_o)
        elif task == "definition":
            node = self.g.nodes[subj]
            assert e["answer"] in (clean_text(node["definition"]), node["label"]) or self.join_ok(e["answer"], [subj])
        elif task == "synonym":  # from the node's own synonym lists, not kgtools.synth.names
            node = self.g.nodes[subj]
            scope = rel.split(":", 1)[1]
            names = [(" ".join(x.split()), sc) for x, sc in zip(node["synonyms"], node["synonym_scopes"], strict=True)]
            if "/iq" in e["template_id"]:  # a name asked back: it is one of the concept's, and no other concept's
                asked = [x for x, sc in names if sc == scope and x.casefold() in e["prompt"].casefold()]
                assert asked, e["prompt"]
                assert any(self.by_name.get(x.casefold()) == {subj} for x in asked), e["prompt"]
                assert self.join_ok(e["answer"], [subj])
            else:
                assert (e["answer"], scope) in names and e["answer"].casefold() != node["label"].casefold()
                assert all(any(a == x for x, _ in names) for a in e["answer_aliases"][0])
        elif task == "literal":  # a code or value the node holds; asked back only when no other node holds it
            kind = e["relation"]
            held = self.literal_values(subj, kind)
            forms = {x.casefold() for v in held for x in (v, v.split(":", 1)[-1])}
            if "/iq" in e["template_id"]:
                assert self.join_ok(e["answer"], [subj])
                shown = [v for v in held if v.split(":", 1)[-1].casefold() in e["prompt"].casefold()]
                assert shown, e["prompt"]
                holders = {n for n in self.g if any(v.split(":", 1)[-1] == s.split(":", 1)[-1]
                                                    for v in self.literal_values(n, kind) for s in shown)}
                assert holders == {subj}, (e["prompt"], holders)
            else:
                answer = e["answer"].casefold()
                assert answer in forms or any(v.startswith(e["answer"]) for v in held), (e["prompt"], e["answer"], held)
                assert e["answer"] not in self.g.nodes[subj]["label"]
        elif task == "multi_hop":
            chain = e["path"][: len(e["path"]) - len(e["answer_ids"])]  # subject, then each unique intermediate
            assert chain[0] == subj and len(chain) >= 2
            for a, b in zip(chain, chain[1:], strict=False):
                hop = [r for s, r, o in triples if s == a and o == b]
                assert hop, (a, b)
                # "the X that a …" names one thing: one most specific value, inherited ones included
                if hop[0] == "is_a":
                    values = {p for _, p, k in self.g.out_edges(a, keys=True) if k == "is_a"}
                else:
                    values = {o for x in {a} | self.up(a) for o in self.asserted(x, hop[0])}
                assert self.most_specific(values) == {b}, (a, hop[0], values)
            assert e["answer_ids"] and set(e["answer_ids"]) <= self.asserted(chain[-1], rel)
        elif task == "property_schema":  # the kg's schema table: each member named is one the property has
            schema, kind = self.kg.meta["schema"], rel.split(":", 1)[1]
            if kind == "properties_of":
                said = [{schema[p]["label"]} for p in e["path"]]
                assert all(any(t["id"] == subj for t in schema[p]["domain"]) for p in e["path"]), e["prompt"]
            else:
                entry = schema[subj]
                members = {"domain": entry["domain"], "range": entry["range"]}.get(kind)
                said = [{t["label"], t["id"].split(":", 1)[-1]} | ({self.g.nodes[t["id"]]["label"]} if t["id"] in self.g else set())
                        for t in members] if members is not None else [
                    {schema[p]["label"]} for p in entry["super_properties" if kind == "super_property" else "inverse_of"]]
                assert f'"{entry["label"]}"' in e["prompt"], e["prompt"]
                assert members is None or len(e["answer_aliases"]) == len(said), (e["prompt"], e["answer"])
            for group in e["answer_aliases"]:
                assert any(set(group) & names for names in said), (e["prompt"], e["answer"], said)
        else:
            raise AssertionError(f"unknown task {task}")
        if e["rejected"] is not None:
            assert e["rejected"] != e["answer"]
        if task == "mcq":
            assert e["negative_kind"] in ("disjoint", "hierarchy", "functional", "unasserted")

    def check_kind(self, kind: str, s: str, r: str, o: str) -> None:
        mine, theirs = {s} | self.up(s), {o} | self.up(o)
        if kind == "disjoint":
            assert r == "is_a" and any(self.g.has_edge(a, b, key="disjoint_with") or self.g.has_edge(b, a, key="disjoint_with")
                                       for a in mine for b in theirs)
        elif kind == "hierarchy":
            assert r == "is_a" and o not in self.up(s)
        elif kind == "functional":
            assert any(d["qualifier"] == "exactly 1" for x in mine for _, _, k, d in
                       self.g.out_edges(x, keys=True, data=True) if k == r)
        else:
            assert kind == "unasserted"


def graphs():
    return {
        "medical": lambda: BUNDLED / "medical.ttl",
        "finance": lambda: BUNDLED / "finance.ttl",
        "doid": lambda: shared_path("doid", "DO_infectious_disease_slim.owl"),
        "fibo": lambda: shared_path("fibo"),
    }


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "fibo" else n for n in graphs()])
def test_every_answer_rederived_from_the_graph(name, tmp_path):  # FIBO (25 s) in `make test-slow`
    kg = build_kg(KgConfig(ontologies=[graphs()[name]()]), ArtifactStore(tmp_path)).graph()
    examples, report = generate_examples(SynthConfig(), kg)
    sample = examples if len(examples) <= 4000 else random.Random(0).sample(examples, 4000)
    checker = Checker(kg)
    for e in sample:
        checker.check(e)
    tasks = {e["task"] for e in sample}
    print(f"\n{name}: {len(examples):,} examples, {len(sample):,} re-derived, zero wrong; tasks {sorted(tasks)}")
    assert len(sample) >= 2000
    assert {"fact_qa", "inverse_qa", "mcq", "yes_no", "definition", "synonym"} <= tasks
    assert report["leakage"]["test_prompts_in_train"] == 0
    assert report["coverage"]["concept_share"] > 0.9


def test_splits_measure_injection_honestly(tmp_path):
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), ArtifactStore(tmp_path)).graph()
    examples, report = generate_examples(SynthConfig(), kg)
    splits = {e["split"] for e in examples}
    assert splits == {"train", "validation", "test_paraphrase", "test_novel_template", "test_heldout"}
    train = [e for e in examples if e["split"] == "train"]
    train_prompts = {e["prompt"] for e in train}
    train_templates = {e["template_id"] for e in train}
    train_triples = {t for e in train for t in e["triples"]}
    for e in examples:
        assert e["split_reason"]
        if e["split"] != "train":
            assert e["prompt"] not in train_prompts
    # test_paraphrase: trained facts, asked with templates that train uses for other facts but not for them
    para = [e for e in examples if e["split"] == "test_paraphrase" and e["task"] in ("fact_qa", "inverse_qa")]
    assert para and all(set(e["triples"]) <= train_triples for e in para)
    assert all(e["template_id"] in train_templates for e in para)
    for e in para:
        same_fact = [t for t in train if t["task"] == e["task"] and t["subject"] == e["subject"]
                     and t["relation"] == e["relation"]]
        assert same_fact and all(t["template_id"] != e["template_id"] for t in same_fact)
    # test_novel_template: templates never trained
    novel = [e for e in examples if e["split"] == "test_novel_template"]
    assert novel and not {e["template_id"] for e in novel} & train_templates
    assert report["leakage"]["template_seen_in_train_share"]["test_novel_template"] == 0.0
    # test_heldout: no held-out triple, and no triple between the same two concepts, is in train
    pairs = {frozenset((t.split("|")[0], t.split("|")[2])) for t in train_triples}
    held = [e for e in examples if e["split"] == "test_heldout" and e["task"] in ("fact_qa", "mcq", "yes_no")
            and not e["template_id"].startswith(("diagnosis/", "cardinality/"))]
    assert held
    # a diagnosis combines facts: it is trained only when all of them are, else held out with one never trained
    diagnoses = [e for e in examples if e["template_id"].startswith("diagnosis/")]
    assert diagnoses and all(set(e["triples"]) <= train_triples for e in diagnoses if e["split"] == "train")
    assert all(set(e["triples"]) - train_triples for e in diagnoses if e["split"] == "test_heldout")
    for e in held:
        assert not set(e["triples"]) & train_triples
        if e["task"] in ("mcq", "yes_no") and not e["inferred"]:  # an inferred probe's premises are trained
            s, _, o = e["triples"][0].split("|")
            assert frozenset((s, o)) not in pairs
        if e["inferred"] and e["split_reason"].startswith("inferred fact never trained"):
            assert set(e["justification"]) <= train_triples | {t for t in e["justification"] if "|is_a|" in t}


def test_preference_split_adds_new_corruptions_for_reinforce_only(tmp_path):
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), ArtifactStore(tmp_path)).graph()
    plain, _ = generate_examples(SynthConfig(), kg)
    examples, report = generate_examples(SynthConfig(negatives={"preference": 3}), kg)
    pref = [e for e in examples if e["split"] == "preference"]
    # every other split is unchanged: SFT and the evaluation see the same data with or without the option
    assert sorted(e["id"] for e in examples if e["split"] != "preference") == sorted(e["id"] for e in plain)
    trained_true = [e for e in examples if e["split"] == "train" and e["task"] == "yes_no" and e["answer"] in YES]
    # sure kinds only (never `unasserted`): not every statement has three
    assert len(trained_true) <= len(pref) <= 3 * len(trained_true)
    assert {e["negative_kind"] for e in pref} <= {"disjoint", "hierarchy", "functional"}
    checker = Checker(kg)
    asked = {(e["path"][0], e["relation"], e["path"][1]) for e in examples
             if e["split"] not in ("train", "preference") and e["task"] == "yes_no" and e["answer"] in NO}
    trained = {(e["path"][0], e["relation"], e["path"][1]) for e in examples
               if e["split"] == "train" and e["task"] == "yes_no" and e["answer"] in NO}
    eval_prompts = {e["prompt"] for e in examples if e["split"] not in ("train", "preference")}
    for e in pref:
        checker.check(e)  # a corrupted statement that the graph makes false
        assert e["task"] == "yes_no" and e["answer"] in NO and e["prompt"] not in eval_prompts
        bad = (e["path"][0], e["relation"], e["path"][1])
        assert bad not in asked, f"an evaluation split asks this corrupted triple: {e['prompt']}"
        assert bad not in trained  # new to the model: SFT never saw this corruption
    assert len({(e["path"][0], e["relation"], e["path"][1]) for e in pref}) == len(pref)  # each one once
    assert report["leakage"]["test_prompts_in_train"] == 0


def test_entity_disjoint_split_holds_out_whole_subjects(tmp_path):
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), ArtifactStore(tmp_path)).graph()
    examples, _ = generate_examples(SynthConfig(splits={"entity_disjoint": True, "heldout": 0.2}), kg)
    train_subjects = {t.split("|")[0] for e in examples if e["split"] == "train" for t in e["triples"]}
    held = [e for e in examples if e["split"] == "test_heldout" and e["task"] == "mcq"]
    held_subjects = {e["triples"][0].split("|")[0] for e in held if not e["template_id"].startswith(("diagnosis/", "cardinality/"))}
    assert held_subjects and not held_subjects & train_subjects
    # a cardinality follows its class too
    card_train = {e["subject"] for e in examples if e["split"] == "train" and e["template_id"].startswith("cardinality/")}
    card_held = {e["subject"] for e in held if e["template_id"].startswith("cardinality/")}
    assert not card_held & (train_subjects | card_train)
    # a held-out diagnosis rests on a held-out subject's facts (its own, or an ancestor's it inherits)
    assert all({t.split("|")[0] for t in e["triples"]} - train_subjects for e in held if e["template_id"].startswith("diagnosis/"))


def test_same_seed_gives_byte_identical_datasets(tmp_path):
    store_kg = ArtifactStore(tmp_path / "kg")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "finance.ttl"]), store_kg).artifact
    a = synthesize(SynthConfig(seed=7), kg, ArtifactStore(tmp_path / "a"))
    b = synthesize(SynthConfig(seed=7), kg, ArtifactStore(tmp_path / "b"))
    c = synthesize(SynthConfig(seed=8), kg, ArtifactStore(tmp_path / "c"))
    for part in ("parquet/train.parquet", "parquet/test_heldout.parquet", "jsonl/train.messages.jsonl"):
        assert (a.path / part).read_bytes() == (b.path / part).read_bytes()
    assert (a.path / "parquet/train.parquet").read_bytes() != (c.path / "parquet/train.parquet").read_bytes()
    ds = a.dataset()
    assert set(ds) >= {"train", "test_heldout"} and "messages" in ds["train"].column_names
    info = json.loads((a.path / "dataset_info.json").read_text())
    assert info["kgtools_train"]["formatting"] == "sharegpt" and (a.path / info["kgtools_train"]["file_name"]).is_file()
    first = json.loads((a.path / "jsonl/train.alpaca.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"instruction", "input", "output"}


def kgtools_cli(*args):
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    return subprocess.run([sys.executable, "-m", "kgtools.cli", *map(str, args)], capture_output=True, text=True,
                          env={**env, "COLUMNS": "200"}, timeout=300)


@pytest.mark.parametrize(
    ("yaml_text", "pattern"),
    [
        ("synth:\n  tasks:\n    riddles: {weight: 1}\n", r"synth\.tasks\.riddles: unknown key"),
        ("synth:\n  tasks:\n" + "".join(f"    {t}: {{weight: 0}}\n" for t in
         TASKS), r"synth\.tasks: .*sum to 0"),
        ("synth:\n  templates:\n    has symptom:\n      questions: ['What is {thing}?']\n",
         r"synth\.templates\.has symptom\.questions\[0\]: unknown placeholder \{thing\}"),
        ("synth:\n  templates:\n    cures:\n      statements: ['{subject} cures {object}.']\n",
         r"synth\.templates\.cures: the graph has no relation"),
        ("synth:\n  negatives:\n    rejected: [maybe]\n", r"synth\.negatives\.rejected: .*unknown negative kind 'maybe'"),
        ("synth:\n  literals:\n    properties:\n      CVX number: null\n",
         r"synth\.literals\.properties: no annotation or datatype property 'CVX number'"),
        ("synth:\n  literals:\n    properties:\n      has code: ''\n", r"synth\.literals\.properties: 'has code': give a property"),
        ("synth:\n  diagnosis:\n    relations: [has sign]\n", r"synth\.diagnosis\.relations: the graph has no relation 'has sign'"),
        ("synth:\n  diagnosis:\n    min_clues: 3\n    max_clues: 2\n", r"synth\.diagnosis: .*max_clues \(2\) is below min_clues \(3\)"),
    ],
)
def test_bad_synth_config_names_the_key(tmp_path, write, yaml_text, pattern):
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), ArtifactStore(tmp_path / "arts"))
    config = write("pipeline.yaml", yaml_text)
    result = kgtools_cli("synth", "build", "--kg", kg.path, "--config", config, "--out", tmp_path / "out")
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.search(pattern, lines[0]), result.stderr
    assert not (tmp_path / "out" / "synth").exists() or not [
        p for p in (tmp_path / "out" / "synth").iterdir() if p.name != "LATEST"]


def test_synth_stats_prints_coverage_per_kind(tmp_path):
    store = ArtifactStore(tmp_path / "arts")
    kg = build_kg(KgConfig(ontologies=[BUNDLED / "medical.ttl"]), store)
    art = synthesize(SynthConfig(), kg.artifact, store).artifact
    shown = kgtools_cli("synth", "stats", art.path)
    assert shown.returncode == 0, shown.stderr
    for kind in ("is_a", "relation:has symptom", "definition", "synonym"):
        assert kind in shown.stdout
    as_json = kgtools_cli("synth", "stats", tmp_path / "arts", "--json")  # the store's latest synth artifact
    cov = json.loads(as_json.stdout)["coverage"]["kinds"]
    assert cov == art.manifest["coverage"]["kinds"]
    assert cov["synonym"]["facts"] > 100 and 0.8 <= cov["synonym"]["train_share"] < 1
