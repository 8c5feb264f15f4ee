"""Instruction examples from graph facts and paths, each traceable to its triples and template, split so
that injection is measured honestly.

Splits:
``train``               trained facts, each asked with ``templates_per_fact`` phrasings;
``validation``          like test_paraphrase, for early stopping;
``test_paraphrase``     trained facts asked with a template never used for THAT fact in train (the template
                        itself is trained on other facts): can the knowledge be extracted, not recited?
``test_novel_template`` trained facts asked with a template held out of training entirely;
``test_heldout``        facts never trained (guessing and hallucination).

A fact is held out together with every other fact between the same two concepts, in either direction and
by any relation — so its inverse (an inverse property, ``skos:narrower`` folded into broader) never stays
in train (the FB15k/WN18 leak). Group questions ("What is a symptom of X?") are trained with the trained
answers only, and asked in test_heldout only when every answer is held out.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kgtools.config import TRAINING_SPLITS, SynthConfig
from kgtools.errors import ConfigError
from kgtools.graph.english import clean_text
from kgtools.graph.model import INSTANCE_OF, IS_A, KnowledgeGraph
from kgtools.graph.templates import TemplateBook, capitalise, normalise_label, render
from kgtools.synth.diagnosis import diagnosis_relations
from kgtools.synth.facts import NEGATIVE_KINDS, Fact, FactIndex, unit_hash
from kgtools.synth.literals import LiteralKind, literal_kinds
from kgtools.synth.registry import generation_order, generator

SPLITS = ("train", "preference", "validation", "test_paraphrase", "test_novel_template", "test_heldout")

DEFINITION_QUESTIONS = ("What is {subject}?", "Define {subject}.", "What does the term {subject} mean?",
                        "Explain what {subject} is.")
DEFINITION_INVERSE = ("Which term is defined as follows: {definition}", "What is the name for this: {definition}",
                      "Name the concept described here: {definition}", "What is being defined? {definition}")
YES_NO_FORMS = (("True or false: {statement}", "True", "False"),
                ("Is the following statement correct? {statement}", "Yes", "No"),
                ("Answer yes or no. {statement}", "Yes", "No"))
LIST_SUFFIX = " List all of them."
# For answer sets larger than list_max_items: any two of them are right. Said after the question, so that
# it reads well after "Which …?", "What is one …?" and "Name a …." alike.
NAME_TWO = " (There are many right answers; name two.)"


@dataclass
class Plan:
    """Which phrasings a fact group is asked with, in which split."""

    entries: list[tuple[str, str, str, str]] = field(default_factory=list)  # (split, template_id, template, reason)


class Synthesizer:
    """Generates every example of one graph under one config; iterate :meth:`examples`."""

    def __init__(self, kg: KnowledgeGraph, cfg: SynthConfig):
        self.cfg = cfg
        self.seed = cfg.seed
        self.ix = ix = FactIndex(kg, cfg.exclude)
        self.kg = kg
        self.book = TemplateBook(kg.relation_labels(), cfg.template_overrides(), key="synth.templates",
                                 phrasing=kg.meta.get("phrasing"))
        self.weights = cfg.tasks.active()
        allowed = self._relation_filter(kg)
        rules = set(cfg.inferred.rules)
        self.facts = [f for f in ix.facts if (allowed is None or f.r in allowed)
                      and (not f.inferred or ix.inferred[f.key]["rule"] in rules)]
        self.heldout: set[str] = set()
        for f in self.facts:
            if f.inferred:
                continue
            unit = f.s if cfg.splits.entity_disjoint else "|".join(sorted((f.s, f.o)))
            if unit_hash(self.seed, "heldout", unit) < cfg.splits.heldout:
                self.heldout.add(f.key)
        # an inferred fact is held out when a fact it follows from is; of the others, a share is held out to
        # measure inference: every premise trained, the conclusion never
        # (with entity_disjoint, whole subjects are held out: an inferred fact follows its subject, and one
        # of a trained subject that rests on a held-out fact is left out)
        self.inferred_probe: set[str] = set()
        dropped: set[str] = set()
        for f in self.facts:
            if not f.inferred:
                continue
            premise_held = any(k in self.heldout for k in ix.inferred[f.key]["justification"])
            if cfg.splits.entity_disjoint:
                if unit_hash(self.seed, "heldout", f.s) < cfg.splits.heldout:
                    self.heldout.add(f.key)
                elif premise_held:
                    dropped.add(f.key)
            elif premise_held:
                self.heldout.add(f.key)
            elif unit_hash(self.seed, "heldout-inferred", f.key) < cfg.inferred.heldout:
                self.heldout.add(f.key)
                self.inferred_probe.add(f.key)
        if dropped:
            self.facts = [f for f in self.facts if f.key not in dropped]
        self.fwd: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.inv: dict[tuple[str, str], list[Fact]] = defaultdict(list)
        self.by_subject: dict[str, list[Fact]] = defaultdict(list)
        for f in self.facts:
            self.fwd[(f.s, f.r)].append(f)
            self.inv[(f.r, f.o)].append(f)
            self.by_subject[f.s].append(f)
        self.stats: Counter = Counter()
        if dropped:
            self.stats["inferred_left_out_entity_disjoint"] = len(dropped)
        self._emitted: set[bytes] = set()  # example ids: each example once
        self._answers: dict[bytes, bytes] = {}  # prompt → answer: no prompt with two different answers
        self._definitions = Counter(clean_text(d.get("definition")).casefold()
                                    for n, d in kg.g.nodes(data=True) if n in ix.label and d.get("definition"))
        self._said: dict[Fact, str] = {}
        self._neighbours: dict[str, list[Fact]] = {}
        # codes and values asked by the literal task; resolved here so that a wrong property is an error first
        self.literal_kinds: list[LiteralKind] = literal_kinds(self) if self.weights.get("literal") else []
        self.cardinalities_asked: dict[str, str] = {}  # key → train / heldout, filled by the cardinality task
        self.diagnosable: set[str] = set()  # "subject|relation" that a diagnosis question tells apart
        self.schema_facts: dict[str, set[str]] = defaultdict(set)  # domain / range / … → properties (or classes) asked
        self.diagnosis_relations: list[str] = diagnosis_relations(self) if self.weights.get("diagnosis") else []

    def _relation_filter(self, kg: KnowledgeGraph) -> set[str] | None:
        if not self.cfg.relations:
            return None
        labels = {normalise_label(lab): rel for rel, lab in kg.relation_labels().items()}
        chosen = set()
        for i, name in enumerate(self.cfg.relations):
            rel = name if name in kg.relation_labels() else labels.get(normalise_label(name))
            if rel is None:
                raise ConfigError(f"synth.relations[{i}]: the graph has no relation {name!r}")
            chosen.add(rel)
        return chosen

    # -- helpers ----------------------------------------------------------------------------------
    def is_train(self, f: Fact) -> bool:
        return f.key not in self.heldout

    def _h(self, *parts: object) -> float:
        return unit_hash(self.seed, *parts)

    def _count(self, task: str, key: object) -> int:
        """How many training phrasings a group gets: weight × templates_per_fact, fractions drawn per group."""
        expected = self.weights[task.split("-")[0]] * self.cfg.templates_per_fact  # "list-inverse" → list
        whole = int(expected)
        return whole + (1 if self._h("count", task, key) < expected - whole else 0)

    def plan(self, task: str, key: object, templates: list[tuple[str, str]], status: str) -> Plan:
        """Assign phrasings of one group to splits. ``status``: train, heldout or mixed."""
        plan = Plan()
        if not templates:
            return plan
        reserved = templates[-1] if len(templates) >= 3 and self.cfg.splits.novel_template > 0 else None
        trainable = [t for t in templates if t is not reserved]
        order = sorted(trainable, key=lambda t: self._h("order", task, key, t[0]))
        if status == "heldout":
            tid, tpl = order[0]
            plan.entries.append(("test_heldout", tid, tpl, "fact never trained"))
            return plan
        if status == "mixed":  # trained with its trained answers only; its held-out facts are asked per fact
            plan.entries.extend(("train", tid, tpl, "trained fact") for tid, tpl in order[: self._count(task, key)])
            return plan
        held = None
        if len(order) >= 2 and self._h("paraphrase", task, key) < self.cfg.splits.paraphrase:
            held = order[0]
            split = "validation" if self._h("validation", task, key) < self.cfg.splits.validation else "test_paraphrase"
            plan.entries.append((split, held[0], held[1], "trained fact, template not used for it in train"))
        pool = [t for t in order if t is not held]
        plan.entries.extend(("train", tid, tpl, "trained fact") for tid, tpl in pool[: self._count(task, key)])
        if reserved is not None and self._h("novel", task, key) < self.cfg.splits.novel_template:
            plan.entries.append(("test_novel_template", reserved[0], reserved[1], "template held out of training"))
        return plan

    @staticmethod
    def status(facts: list[Fact], train: list[Fact]) -> str:
        return "train" if len(train) == len(facts) else ("heldout" if not train else "mixed")

    def name(self, n: str) -> str:
        return self.ix.display[n]

    def join(self, nodes: list[str]) -> str:
        names = [self.name(n) for n in nodes]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def aliases(self, nodes: list[str]) -> list[list[str]]:
        out = []
        for n in nodes:
            data = self.kg.g.nodes[n]
            shown = self.ix.display.get(n, data["label"])
            out.append([data["label"], *(data.get("synonyms") or ()), *([shown] if shown != data["label"] else [])])
        return out

    def statement(self, f: Fact, i: int = 0) -> str:
        if i == 0:
            cached = self._said.get(f)
            if cached is not None:
                return cached
        templates = self.book.get(f.r).statements
        text = render(templates[i % len(templates)], {"subject": (self.name(f.s), None), "object": (self.name(f.o), None)})[0]
        if i == 0:
            self._said[f] = text
        return text

    def context(self, support: list[Fact], subject: str) -> str:
        """The supporting facts and a few other trained facts about the subject, as sentences."""
        seen = {f.key for f in support}
        sentences = [self.statement(f) for f in support]
        neighbours = self._neighbours.get(subject)
        if neighbours is None:  # the subject's trained facts in a fixed order, computed once
            neighbours = [f for f in self.by_subject.get(subject, ()) if self.is_train(f)]
            neighbours.sort(key=lambda f: self._h("context", f.key))
            neighbours = self._neighbours[subject] = neighbours[: self.cfg.context_facts + 4]
        extra = [f for f in neighbours if f.key not in seen][: self.cfg.context_facts]
        sentences += [self.statement(f) for f in extra]
        return " ".join(sentences)

    def example(self, task: str, split: str, reason: str, template_id: str, prompt: str, answer: str,
                answer_ids: list[str], *, support: list[Fact], subject: str, relation: str,
                accepted: list[str] | None = None, choices: list[str] | None = None, answer_index: int = -1,
                rejected: str | None = None, negative_kind: str | None = None, path: list[str] | None = None,
                rationale: str | None = None, distractor_kinds: list[str] | None = None,
                alias_ids: list[str] | None = None, aliases: list[list[str]] | None = None) -> dict[str, Any]:
        triples = [f.key for f in support]
        justification = sorted({k for f in support if f.inferred for k in self.ix.inferred[f.key]["justification"]})
        if split == "test_heldout" and any(f.key in self.inferred_probe for f in support) and not any(
                k in self.heldout for k in justification):
            reason = "inferred fact never trained; every fact it follows from is"
        ident = hashlib.blake2b("\x1f".join([task, template_id, prompt, answer]).encode(), digest_size=8).hexdigest()
        reply = f"{rationale} So the answer is {answer}." if rationale else answer
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        if self.cfg.system_prompt:
            messages.insert(0, {"role": "system", "content": self.cfg.system_prompt})
        return {
            "id": ident, "task": task, "split": split, "split_reason": reason, "template_id": template_id,
            "prompt": prompt, "answer": answer, "answer_ids": answer_ids,
            "accepted_ids": sorted(set(accepted or answer_ids)), "answer_aliases": aliases if aliases is not None else self.aliases(alias_ids or answer_ids),
            "choices": choices or [], "answer_index": answer_index, "rejected": rejected,
            "negative_kind": negative_kind, "distractor_kinds": distractor_kinds or [],
            "context": self.context(support, subject), "triples": triples, "path": path or [subject],
            "relation": relation, "subject": subject, "messages": messages,
            "inferred": any(f.inferred for f in support), "justification": justification,
        }

    # -- tasks ------------------------------------------------------------------------------------
    def examples(self) -> Iterator[dict[str, Any]]:
        for task in generation_order():  # kgtools.synth.registry
            if task in self.weights and self.weights[task] > 0:
                for e in generator(task)(self):
                    if self._admit(e):
                        yield e

    def _admit(self, e: dict[str, Any]) -> bool:
        """Each example once (ids are unique in an artifact), and never a prompt asked again with another
        answer (two concepts that read alike): the first one stands, the others are counted and dropped."""
        ident = bytes.fromhex(e["id"])
        if ident in self._emitted:
            self.stats["dropped_duplicate_example"] += 1
            return False
        prompt = hashlib.blake2b(e["prompt"].encode(), digest_size=8).digest()
        answer = hashlib.blake2b(e["answer"].encode(), digest_size=8).digest()
        if self._answers.setdefault(prompt, answer) != answer:
            self.stats["dropped_prompt_with_other_answer"] += 1
            return False
        self._emitted.add(ident)
        self.stats[f"{e['split']}/{e['task']}"] += 1
        return True

    def _questions(self, rel: str, inverse: bool) -> list[tuple[str, str]]:
        t = self.book.get(rel)
        items = t.inverse_questions if inverse else t.questions
        kind = "iq" if inverse else "q"
        return [(f"{rel}/{kind}{i}", tpl) for i, tpl in enumerate(items)]

    def _values(self, s: str | None, o: str | None, s_type_of: str, o_type_of: str) -> dict[str, tuple[str, None]]:
        values: dict[str, tuple[str, None]] = {
            "subject_type": (self.ix.type_label(s_type_of), None), "object_type": (self.ix.type_label(o_type_of), None)}
        if s is not None:
            values["subject"] = (self.name(s), None)
        if o is not None:
            values["object"] = (self.name(o), None)
        return values

    def _two(self, nodes: list[str], tid: str) -> list[str]:
        """Two members of a large answer set, drawn deterministically, in their original order."""
        picked = sorted(nodes, key=lambda n: self._h("two", tid, n))[:2]
        return [n for n in nodes if n in picked]

    def _rejected_object(self, f: Fact, answer_ids: list[str]) -> tuple[str | None, str | None]:
        bad = self.ix.object_corruptions(f, tuple(self.cfg.negatives.rejected), 1, (self.seed, "rejected"))
        if not bad:
            return None, None
        wrong, kind = bad[0]
        return self.join([wrong if a == f.o else a for a in answer_ids]), kind

    def fact_qa(self, list_task: bool = False) -> Iterator[dict[str, Any]]:
        task = "list" if list_task else "fact_qa"
        for (s, r), facts in self.fwd.items():
            train = [f for f in facts if self.is_train(f)]
            status = self.status(facts, train)
            if list_task and (status == "mixed" or not 2 <= len(facts) <= self.cfg.list_max_items):
                continue
            templates = self._questions(r, inverse=False)
            for split, tid, tpl, reason in self.plan(task, (s, r), templates, status).entries:
                used = facts if split == "test_heldout" else train
                objs = [f.o for f in used]
                prompt = render(tpl, self._values(s, None, s, objs[0]))[0]
                if list_task:
                    prompt, tid = prompt + LIST_SUFFIX, tid.replace("/q", "/list-q")
                accepted = sorted(self.ix.closure(s, r)) if not list_task else objs
                alias_ids = None
                if len(objs) > self.cfg.list_max_items:  # an unbounded answer: ask for two, any two count
                    alias_ids, objs = objs, self._two(objs, tid)
                    used = [f for f in used if f.o in objs]
                    prompt, tid = prompt + NAME_TWO, tid + "/two"
                rejected, kind = self._rejected_object(used[0], objs)
                yield self.example(task, split, reason, tid, prompt, self.join(objs), objs, support=used, subject=s,
                                   relation=r, accepted=[a for a in accepted if a in self.ix.label],
                                   rejected=rejected, negative_kind=kind, alias_ids=alias_ids)

    def lists(self) -> Iterator[dict[str, Any]]:
        """All objects of a group ("What is a symptom of X? List all of them.") and all subjects of an
        inverse group ("Name a kind of drug. List all of them."), for groups of 2..list_max_items."""
        yield from self.fact_qa(list_task=True)
        for (r, o), facts in self.inv.items():
            train = [f for f in facts if self.is_train(f)]
            status = self.status(facts, train)
            if status == "mixed" or not 2 <= len(facts) <= self.cfg.list_max_items:
                continue
            templates = self._questions(r, inverse=True)
            for split, tid, tpl, reason in self.plan("list-inverse", (r, o), templates, status).entries:
                subs = [f.s for f in facts]
                prompt = render(tpl, self._values(None, o, subs[0], o))[0] + LIST_SUFFIX
                bad = self.ix.subject_corruption(facts[0], tuple(self.cfg.negatives.rejected), (self.seed, "rejected"))
                rejected = self.join([bad[0] if a == facts[0].s else a for a in subs]) if bad else None
                yield self.example("list", split, reason, tid.replace("/iq", "/list-iq"), prompt, self.join(subs), subs,
                                   support=facts, subject=o, relation=r, rejected=rejected,
                                   negative_kind=bad[1] if bad else None)

    def inverse_qa(self) -> Iterator[dict[str, Any]]:
        for (r, o), facts in self.inv.items():
            train = [f for f in facts if self.is_train(f)]
            status = self.status(facts, train)
            templates = self._questions(r, inverse=True)
            for split, tid, tpl, reason in self.plan("inverse_qa", (r, o), templates, status).entries:
                used = facts if split == "test_heldout" else train
                subs = [f.s for f in used]
                prompt = render(tpl, self._values(None, o, subs[0], o))[0]
                alias_ids = None
                if len(subs) > self.cfg.list_max_items:  # "Name something that immunizes Homo sapiens": two
                    alias_ids, subs = subs, self._two(subs, tid)
                    used = [f for f in used if f.s in subs]
                    prompt, tid = prompt + NAME_TWO, tid + "/two"
                bad = self.ix.subject_corruption(used[0], tuple(self.cfg.negatives.rejected), (self.seed, "rejected"))
                rejected = self.join([bad[0] if a == used[0].s else a for a in subs]) if bad else None
                accepted = {x for sub in subs for x in (sub, *self.ix.descendants(sub))}
                yield self.example("inverse_qa", split, reason, tid, prompt, self.join(subs), subs, support=used,
                                   subject=o, relation=r, accepted=sorted(a for a in accepted if a in self.ix.label),
                                   rejected=rejected, negative_kind=bad[1] if bad else None, alias_ids=alias_ids)

    def mcq(self) -> Iterator[dict[str, Any]]:
        k = self.cfg.mcq_choices
        allowed = tuple(self.cfg.negatives.mcq)
        planned = self._mcq_plan()
        # how often each concept is a correct answer: distractors are chosen to be answers as often, so
        # that "pick the choice seen most often as an answer" guesses no better than chance
        self.ix.answer_counts = Counter()
        for f, entries in planned:
            self.ix.answer_counts[f.o] += sum(1 for e in entries if e[0] == "train")
        for f, entries in planned:
            s, r = f.s, f.r
            distractors = self.ix.object_corruptions(f, allowed, k - 1, (self.seed, "mcq"), surface=self.name(s))
            if len(distractors) < k - 1:
                self.stats["mcq_skipped_few_distractors"] += 1
                continue
            for split, tid, tpl, reason in entries:
                options = [f.o] + [d for d, _ in distractors]
                options.sort(key=lambda c: self._h("shuffle", f.key, tid, c))
                question = render(tpl, self._values(s, None, s, f.o))[0]
                letters = "ABCDEFGHIJ"
                prompt = question + "\n" + "\n".join(f"{letters[i]}) {self.name(c)}" for i, c in enumerate(options))
                kinds = [kind for _, kind in distractors]
                weakest = max(kinds, key=NEGATIVE_KINDS.index)
                wrong = distractors[0][0]
                yield self.example("mcq", split, reason, tid.replace("/q", "/mcq-q"), prompt, self.name(f.o), [f.o],
                                   support=[f], subject=s, relation=r, choices=[self.name(c) for c in options],
                                   answer_index=options.index(f.o), rejected=self.name(wrong),
                                   negative_kind=weakest, distractor_kinds=kinds)
        self.stats["mcq_answer_stands_out"] = self.ix.surface_misses

    def _mcq_plan(self) -> list[tuple[Fact, list[tuple[str, str, str, str]]]]:
        """The facts asked as multiple choice, with their (split, template id, template, reason): not when
        the answer's name is part of the subject's, and at most ``mcq_max_per_answer`` per answer."""
        cap = self.cfg.mcq_max_per_answer
        answered: Counter = Counter()
        out = []
        for (s, r), facts in self.fwd.items():
            train = [f for f in facts if self.is_train(f)]
            templates = self._questions(r, inverse=False)
            plan = self.plan("mcq", (s, r), templates, self.status(facts, train)).entries
            for f in facts:
                held = not self.is_train(f)
                entries = [e for e in plan if (e[0] == "test_heldout") == held]
                if held and not entries:  # a held-out fact of a partly trained group: asked on its own
                    order = sorted(templates[:-1] if len(templates) >= 3 else templates,
                                   key=lambda t: self._h("order", "mcq", (s, r), t[0]))
                    entries = [("test_heldout", order[0][0], order[0][1], "fact never trained")]
                if self.ix.names_in(self.name(f.o), self.name(s)):
                    # "ACTUS calendar code - no calendar" is an "ACTUS calendar code": a word game, not knowledge
                    self.stats["mcq_skipped_answer_in_question"] += 1
                    continue
                if cap is not None and answered[f.o] + len(entries) > cap:
                    self.stats["mcq_skipped_answer_cap"] += 1
                    continue
                answered[f.o] += len(entries)
                out.append((f, entries))
        return out

    def yes_no(self) -> Iterator[dict[str, Any]]:
        allowed = tuple(self.cfg.negatives.yes_no)
        groups = [(s, r, facts, self._yes_no_entries(s, r, facts)) for (s, r), facts in self.fwd.items()]
        corrupted_of = {(f, tid): self._corrupt(f, allowed, tid)
                        for _, _, facts, entries in groups for f in facts for _, tid, _, _ in entries[f]}
        extra = self.cfg.negatives.preference
        # the extra negatives avoid every corrupted triple that another example states already: those an
        # evaluation split asks about (so the test stays unseen) and those the train split has
        avoid = {c[0] for c in corrupted_of.values() if c is not None}
        for s, r, facts, entries_of in groups:
            for f in facts:
                for split, tid, index, reason in entries_of[f]:
                    form, yes, no = YES_NO_FORMS[int(self._h("form", f.key, tid) * len(YES_NO_FORMS))]
                    true_statement = self.statement(f, int(index))
                    yield self.example("yes_no", split, reason, f"{tid}/yn", form.format(statement=true_statement),
                                       yes, [f.o], support=[f], subject=s, relation=r, rejected=no)
                    corrupted = corrupted_of[f, tid]
                    if corrupted is None:
                        self.stats["yes_no_skipped_no_negative"] += 1
                        continue
                    bad, kind = corrupted
                    false_statement = self.statement(bad, int(index))
                    yield self.example("yes_no", split, reason, f"{tid}/yn-neg", form.format(statement=false_statement),
                                       no, [], support=[f], subject=s, relation=bad.r, rejected=yes, negative_kind=kind,
                                       path=[bad.s, bad.o])
                    if split != "train" or not extra:
                        continue
                    more_bad = self._more_corruptions(f, tuple(self.cfg.negatives.preference_kinds), tid, extra, avoid)
                    avoid.update(b for b, _ in more_bad)
                    for j, (more, more_kind) in enumerate(more_bad):
                        yield self.example("yes_no", "preference", "trained statement, another corrupted triple",
                                           f"{tid}/yn-pref{j}", form.format(statement=self.statement(more, int(index))),
                                           no, [], support=[f], subject=s, relation=more.r, rejected=yes,
                                           negative_kind=more_kind, path=[more.s, more.o])

    def _yes_no_entries(self, s: str, r: str, facts: list[Fact]) -> dict[Fact, list[tuple[str, str, str, str]]]:
        """Per fact of one (subject, relation) group: (split, template id, statement index, reason)."""
        train = [f for f in facts if self.is_train(f)]
        n_statements = len(self.book.get(r).statements)
        templates = [(f"{r}/s{i}", str(i)) for i in range(n_statements)]
        plan = self.plan("yes_no", (s, r), templates, self.status(facts, train)).entries
        out = {}
        for f in facts:
            held = not self.is_train(f)
            out[f] = [e for e in plan if (e[0] == "test_heldout") == held] or (
                [("test_heldout", templates[0][0], "0", "fact never trained")] if held else [])
        return out

    def _more_corruptions(self, f: Fact, allowed: tuple[str, ...], tid: str, k: int,
                          avoid: set[Fact]) -> list[tuple[Fact, str]]:
        """Up to ``k`` further false variants of ``f`` for preference training: other objects first, then
        another subject; none in ``avoid`` (every corrupted triple another example states already)."""
        seed = (self.seed, "preference", tid)
        found = [(Fact(f.s, f.r, o), kind) for o, kind in self.ix.object_corruptions(f, allowed, k + 8, seed)]
        if (sub := self.ix.subject_corruption(f, allowed, seed)) is not None:
            found.append((Fact(sub[0], f.r, f.o), sub[1]))
        out = [(bad, kind) for bad, kind in found if bad not in avoid]
        return out[:k]

    def _corrupt(self, f: Fact, allowed: tuple[str, ...], tid: str) -> tuple[Fact, str] | None:
        """A false variant of ``f``: another object, another subject, or (for a hierarchy fact) both kinds."""
        how = self._h("corrupt", f.key, tid)
        if how < 0.5:
            objs = self.ix.object_corruptions(f, allowed, 1, (self.seed, "yes_no", tid))
            if objs:
                return Fact(f.s, f.r, objs[0][0]), objs[0][1]
        if how < 0.8:
            sub = self.ix.subject_corruption(f, allowed, (self.seed, "yes_no", tid))
            if sub:
                return Fact(sub[0], f.r, f.o), sub[1]
        # a wrong relation between the same two concepts: one the subject has for other objects of the same
        # type as this one ("X has Swiss franc as a reference currency" → "… as a settlement currency"),
        # never a sortal error ("X is an instance of Swiss franc")
        root = self.ix.root(f.o)
        others = sorted({x.r for x in self.by_subject.get(f.s, ())
                         if x.r != f.r and self.ix.root(x.o) == root})
        start = int(self._h("wrong-relation", f.key) * len(others)) if others else 0
        for r in [*others[start:], *others[:start]][:8]:
            if (kind := self.ix.negative_kind(f.s, r, f.o)) is not None and kind in allowed:
                return Fact(f.s, r, f.o), kind
        objs = self.ix.object_corruptions(f, allowed, 1, (self.seed, "yes_no", tid))
        return (Fact(f.s, f.r, objs[0][0]), objs[0][1]) if objs else None

    def definition(self) -> Iterator[dict[str, Any]]:
        for n in self.ix.labelled:
            data = self.kg.g.nodes[n]
            definition = clean_text(data.get("definition"))
            if not definition or data.get("kind") == "external":
                continue
            status = "heldout" if self._h("heldout-definition", n) < self.cfg.splits.heldout else "train"
            sibling = next((c for c in self.ix.similar(n) if not self.ix.same_name(c, n)
                            and clean_text(self.kg.g.nodes[c].get("definition")).casefold()
                            not in ("", definition.casefold())), None)
            # "Name the concept described here: …" only when the text names one concept and does not say
            # its name already
            asks_back = self._definitions[definition.casefold()] == 1 and not any(
                self.ix.names_in(name, definition) for name in self.ix.names.get(n, ()))
            if not asks_back:
                self.stats["definition_not_asked_back"] += 1
            for inverse, templates in ((False, DEFINITION_QUESTIONS), (True, DEFINITION_INVERSE)):
                if inverse and not asks_back:
                    continue
                tids = [(f"definition/{'iq' if inverse else 'q'}{i}", t) for i, t in enumerate(templates)]
                for split, tid, tpl, reason in self.plan("definition", (n, inverse), tids, status).entries:
                    if inverse:
                        prompt = tpl.format(definition=definition)
                        answer, ids = self.name(n), [n]
                        rejected = self.name(sibling) if sibling else None
                    else:
                        prompt = capitalise(tpl.format(subject=self.name(n)))
                        answer, ids = definition, [n]
                        rejected = clean_text(self.kg.g.nodes[sibling]["definition"]) if sibling else None
                    yield self.example("definition", split, reason, tid, prompt, answer, ids, support=[], subject=n,
                                       relation="definition", rejected=rejected,
                                       negative_kind="hierarchy" if sibling else None)

    def multi_hop(self) -> Iterator[dict[str, Any]]:
        """Questions over chains s -r1-> m -r2-> answers whose intermediate concepts are unique, phrased
        with a definite description ("the drug that influenza is treated by") and answered with a rationale."""
        for (s, first_rel), first in self.fwd.items():
            if first_rel == INSTANCE_OF or self.ix.unique_value(s, first_rel) != first[0].o:
                # "the X of s" names one thing only if s has one X, inherited values included; an individual
                # often has several classes, some outside the loaded files, so its class is never one
                continue
            for path in self._chains(first[0], self.cfg.max_hops):
                *hops, (m, r_last) = path
                if any(f.r == INSTANCE_OF for f in hops):
                    continue
                if not self.cfg.multi_hop_taxonomic and all(r in (IS_A, INSTANCE_OF) for r in (*(f.r for f in hops), r_last)):
                    self.stats["multi_hop_skipped_taxonomic"] += 1
                    continue
                if self._h("multi_hop", s, *[f.key for f in hops], r_last) >= min(1.0, self.weights["multi_hop"] / 2):
                    continue
                finals = self.fwd[(m, r_last)]
                if len(finals) > self.cfg.list_max_items:
                    continue
                support = [*hops, *finals]
                phrase = self.name(s)
                for f in hops:
                    phrase = self.book.description(f.r, phrase, self.ix.type_label(f.o))
                templates = self._questions(r_last, inverse=False)
                trainable = templates[:-1] if len(templates) >= 3 else templates
                tid, tpl = trainable[int(self._h("mh-template", s, m, r_last) * len(trainable))]
                values = self._values(None, None, m, finals[0].o)
                values["subject"] = (phrase, None)
                prompt = render(tpl, values)[0]
                if any(not self.is_train(f) for f in support):
                    split, reason = "test_heldout", "path contains a fact never trained"
                elif self._h("mh-split", s, m, r_last) < self.cfg.splits.paraphrase:
                    split, reason = "test_paraphrase", "composition of trained facts, question not trained"
                else:
                    split, reason = "train", "trained facts"
                objs = [f.o for f in finals]
                rationale = " ".join(self.statement(f) for f in hops) + " " + " ".join(self.statement(f) for f in finals)
                rejected, kind = self._rejected_object(finals[0], objs)
                yield self.example("multi_hop", split, reason, tid.replace("/q", f"/hop{len(hops) + 1}-q"), prompt,
                                   self.join(objs), objs, support=support, subject=s, relation=r_last,
                                   accepted=[a for a in self.ix.closure(m, r_last) if a in self.ix.label],
                                   rejected=rejected, negative_kind=kind, rationale=rationale,
                                   path=[s, *[f.o for f in hops], *objs])

    def _chains(self, first: Fact, max_hops: int) -> Iterator[list[Any]]:
        """[fact, fact, …, (last node, last relation)] with every intermediate object unique."""
        m = first.o
        for _, r2 in self._groups_of(m):
            yield [first, (m, r2)]
            if max_hops >= 3 and len(self.fwd[(m, r2)]) == 1 and self.ix.unique_value(m, r2) == self.fwd[(m, r2)][0].o:
                second = self.fwd[(m, r2)][0]
                for (_, r3) in self._groups_of(second.o):
                    if second.o not in (first.s, m):
                        yield [first, second, (second.o, r3)]

    def _groups_of(self, n: str) -> list[tuple[str, str]]:
        rels = sorted({f.r for f in self.by_subject.get(n, ())})
        picked = sorted(rels, key=lambda r: self._h("hop-rel", n, r))[:2]
        return [(n, r) for r in sorted(picked)]


class LeakGuard:
    """The leakage check, streaming: training prompts are remembered (as 8-byte digests), evaluation
    examples are admitted only if their prompt is not a training prompt; template overlap is reported."""

    def __init__(self) -> None:
        self.train_prompts: set[bytes] = set()
        self.train_templates: set[str] = set()
        self.dropped: Counter = Counter()
        self.overlap: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    @staticmethod
    def digest(prompt: str) -> bytes:
        return hashlib.blake2b(prompt.encode(), digest_size=8).digest()

    def see_train(self, e: dict[str, Any]) -> None:
        self.train_prompts.add(self.digest(e["prompt"]))
        self.train_templates.add(e["template_id"])

    def admit(self, e: dict[str, Any]) -> bool:
        """Call after every training example has been seen."""
        if self.digest(e["prompt"]) in self.train_prompts:
            self.dropped[e["split"]] += 1
            return False
        self.overlap[e["split"]][0] += e["template_id"] in self.train_templates
        self.overlap[e["split"]][1] += 1
        return True

    def report(self) -> dict[str, Any]:
        return {
            "dropped_as_leaks": dict(self.dropped),
            "template_seen_in_train_share": {s: round(a / b, 4) for s, (a, b) in sorted(self.overlap.items()) if b},
        }


def leak_check(examples: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Drop any evaluation example whose prompt is a training prompt; report template overlap per split."""
    guard = LeakGuard()
    for e in examples:
        if e["split"] in TRAINING_SPLITS:
            guard.see_train(e)
    kept = [e for e in examples if e["split"] in TRAINING_SPLITS or guard.admit(e)]
    return kept, guard.report()
