"""What changed between two releases of an ontology, read from their knowledge graphs.

Every change is typed and keyed by concept id (ids are minted from IRIs, so a concept keeps its id across
releases):

- ``concept_added``, ``concept_removed`` and ``concept_obsoleted`` (the new release marks it deprecated; its
  ``replaced by`` / ``consider`` successors are given);
- ``relabelled``, ``definition_changed``, ``synonym_added``, ``synonym_removed``;
- ``moved``: the ``is_a`` parents of a concept in both releases changed (old parents → new parents); a concept
  that only gained or only lost a parent is a ``fact_added`` / ``fact_removed`` of relation ``is_a``;
- ``fact_added``, ``fact_removed``, ``fact_changed`` (same subject and relation, the old objects gone and new
  ones there) over stated facts (edges that assert their relation: ``some``, ``value``, ``exactly n``, ``min n``
  with n ≥ 1, assertions; not ``only`` / ``max``), and ``qualifier_changed`` (``some`` → ``exactly 1``);
- ``inferred_added``, ``inferred_removed``: what the graph entails and no longer entails, where both kg
  artifacts hold their closure (a fact that went from entailed to stated, or back, is no change of knowledge).

Each row has ``old`` and ``new`` as lists (labels, definitions, objects), the ids of the objects in
``old_ids`` / ``new_ids``, and a ``detail``. Rows are sorted, so the same two graphs give the same table.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kgtools.errors import KgtoolsError
from kgtools.graph.model import CONCEPT_KINDS, IS_A, NOT_FACTS, KnowledgeGraph, stated

CHANGE_TYPES = (
    "concept_added", "concept_removed", "concept_obsoleted", "relabelled", "definition_changed", "synonym_added",
    "synonym_removed", "moved", "fact_added", "fact_removed", "fact_changed", "qualifier_changed", "inferred_added",
    "inferred_removed",
)
COLUMNS = ("change", "id", "label", "relation", "relation_label", "old", "new", "old_ids", "new_ids", "detail")
KINDS = (*CONCEPT_KINDS, "individual")  # what a release adds, removes or edits (external classes are not its own)


class DiffError(KgtoolsError):
    """Two graphs that cannot be compared as releases of one ontology."""


@dataclass
class KgDiff:
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    stats: dict[str, int] = field(default_factory=dict)  # concepts in each release and in both, facts, …

    def of(self, change: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["change"] == change]


def _facts(kg: KnowledgeGraph) -> dict[tuple[str, str, str], str]:
    """Stated facts (is_a included) → qualifier."""
    out = {}
    for s, o, r, q in kg.g.edges(keys=True, data="qualifier"):
        if r in NOT_FACTS or not stated(q or ""):
            continue
        out[(s, r, o)] = q or ""
    return out


def _inferred(kg: KnowledgeGraph) -> set[tuple[str, str, str]]:
    return {(f["src"], f["rel"], f["dst"]) for f in kg.meta.get("inferred") or ()}


def diff_graphs(old: KnowledgeGraph, new: KnowledgeGraph, *, closure: bool = True) -> KgDiff:
    """Every change from ``old`` to ``new`` (see the module docstring); ``closure``: both graphs hold what they
    entail (the kg stage ran its closure), so changes in it are reported."""
    old_ids, new_ids = set(old.nodes(KINDS)), set(new.nodes(KINDS))
    common = old_ids & new_ids
    if not common:
        raise DiffError("the two graphs have no concept in common: not two releases of one ontology "
                        "(concept ids are minted from IRIs; check the prefixes)")
    out = _Rows(old, new)
    _concept_rows(out, old, new, old_ids, new_ids)
    _link_moved_synonyms(out.rows)
    old_facts, new_facts = _facts(old), _facts(new)
    gone, came = old_facts.keys() - new_facts.keys(), new_facts.keys() - old_facts.keys()
    _fact_rows(out, old_facts, new_facts, gone, came, common)
    if closure:  # what the graphs entail
        old_inf, new_inf = _inferred(old), _inferred(new)
        for s, r, o in sorted(new_inf - old_inf - old_facts.keys()):
            out.row("inferred_added", s, r, new_v=[out.labels.get(o, o)], new_i=[o])
        for s, r, o in sorted(old_inf - new_inf - new_facts.keys()):
            out.row("inferred_removed", s, r, old_v=[out.labels.get(o, o)], old_i=[o])
    rows = out.rows
    rows.sort(key=lambda r: (CHANGE_TYPES.index(r["change"]), r["id"], r["relation"], r["old_ids"], r["new_ids"],
                             r["old"], r["new"]))
    counts = Counter(r["change"] for r in rows)
    is_a_added = sum(1 for s, r, _ in came if r == IS_A)
    is_a_removed = sum(1 for s, r, _ in gone if r == IS_A)
    stats = {"old_concepts": len(old_ids), "new_concepts": len(new_ids), "common_concepts": len(common),
             "old_facts": len(old_facts), "new_facts": len(new_facts), "facts_added": len(came),
             "facts_removed": len(gone), "is_a_added": is_a_added, "is_a_removed": is_a_removed}
    return KgDiff(rows, {c: counts.get(c, 0) for c in CHANGE_TYPES}, stats)


class _Rows:
    """The diff's rows, each with the labels of its concept and relation from whichever release has them."""

    def __init__(self, old: KnowledgeGraph, new: KnowledgeGraph) -> None:
        self.rows: list[dict[str, Any]] = []
        self.labels = {**{n: old.label(n) for n in old.g}, **{n: new.label(n) for n in new.g}}
        self.rel_labels = {**old.relation_labels(), **new.relation_labels()}
        self.obsolete = new.meta.get("obsolete") or {}

    def row(self, change: str, n: str, relation: str = "", old_v: Iterable[str] = (), new_v: Iterable[str] = (),
            old_i: Iterable[str] = (), new_i: Iterable[str] = (), detail: str = "") -> None:
        self.rows.append({"change": change, "id": n, "label": self.labels.get(n, n), "relation": relation,
                          "relation_label": self.rel_labels.get(relation, relation) if relation else "",
                          "old": list(old_v), "new": list(new_v), "old_ids": list(old_i), "new_ids": list(new_i),
                          "detail": detail})


def _concept_rows(out: _Rows, old: KnowledgeGraph, new: KnowledgeGraph, old_ids: set[str], new_ids: set[str]) -> None:
    """Concepts added, removed or obsoleted; in both releases, new labels, definitions and synonyms."""
    row, labels = out.row, out.labels
    for n in sorted(new_ids - old_ids):
        row("concept_added", n, new_v=[new.label(n)], detail=new.g.nodes[n].get("kind") or "")
    for n in sorted(old_ids - new_ids):
        if n in out.obsolete:
            o = out.obsolete[n]
            successors = o.get("replaced_by") or o.get("consider") or []
            how = "replaced by" if o.get("replaced_by") else ("consider" if successors else "no successor")
            row("concept_obsoleted", n, old_v=[old.label(n)], new_v=[labels.get(s, s) for s in successors],
                new_i=successors, detail=how)
        else:
            row("concept_removed", n, old_v=[old.label(n)])
    for n in sorted(old_ids & new_ids):
        a, b = old.g.nodes[n], new.g.nodes[n]
        if (a.get("label") or "") != (b.get("label") or ""):
            was, now = a.get("label") or "", b.get("label") or ""
            kept = was in (b.get("synonyms") or ())
            row("relabelled", n, old_v=[was], new_v=[now], detail="case only" if was.casefold() == now.casefold() else (
                "old label kept as a synonym" if kept else ""))
        if (a.get("definition") or "") != (b.get("definition") or ""):
            row("definition_changed", n, old_v=[a["definition"]] if a.get("definition") else [],
                new_v=[b["definition"]] if b.get("definition") else [],
                detail="added" if not a.get("definition") else ("removed" if not b.get("definition") else ""))
        old_syn = dict(zip(a.get("synonyms") or (), a.get("synonym_scopes") or (), strict=False))
        new_syn = dict(zip(b.get("synonyms") or (), b.get("synonym_scopes") or (), strict=False))
        for text in sorted(new_syn.keys() - old_syn.keys() - {a.get("label")}):
            row("synonym_added", n, new_v=[text], detail=new_syn[text])
        for text in sorted(old_syn.keys() - new_syn.keys() - {b.get("label")}):
            row("synonym_removed", n, old_v=[text], detail=old_syn[text])


def _link_moved_synonyms(rows: list[dict[str, Any]]) -> None:
    """A name that left one concept for another ("ordinary smallpox": smallpox → variola major) says so."""
    added = defaultdict(list)
    removed = defaultdict(list)
    for r in rows:
        if r["change"] in ("synonym_added", "synonym_removed"):
            (added if r["change"] == "synonym_added" else removed)[r["new"][0].casefold() if r["new"] else r["old"][0].casefold()].append(r)
    for text, gone_rows in removed.items():
        for g in gone_rows:
            for a in added.get(text, ()):
                if a["id"] != g["id"]:
                    g["detail"] += f"; now a synonym of {a['label']} ({a['id']})"
                    a["detail"] += f"; was a synonym of {g['label']} ({g['id']})"


def _fact_rows(out: _Rows, old_facts: dict, new_facts: dict, gone: set, came: set, common: set[str]) -> None:
    """Stated facts removed, added, changed (same subject and relation, other objects; ``moved`` for is_a) and
    qualifiers changed."""
    row, labels = out.row, out.labels
    by_pair: dict[tuple[str, str], tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for s, r, o in gone:
        by_pair[(s, r)][0].append(o)
    for s, r, o in came:
        by_pair[(s, r)][1].append(o)
    for (s, r), (was, now) in sorted(by_pair.items()):
        was, now = sorted(was), sorted(now)
        both = s in common
        if was and now and both:
            row("moved" if r == IS_A else "fact_changed", s, r, [labels.get(o, o) for o in was],
                [labels.get(o, o) for o in now], was, now)
            continue
        for o in was:
            row("fact_removed", s, r, old_v=[labels.get(o, o)], old_i=[o],
                detail="" if both else ("subject obsoleted" if s in out.obsolete else "subject removed"))
        for o in now:
            row("fact_added", s, r, new_v=[labels.get(o, o)], new_i=[o], detail="" if both else "new subject")
    for key in sorted(old_facts.keys() & new_facts.keys()):
        if old_facts[key] != new_facts[key]:
            s, r, o = key
            row("qualifier_changed", s, r, [labels.get(o, o)], [labels.get(o, o)], [o], [o],
                detail=f"{old_facts[key] or 'asserted'} → {new_facts[key] or 'asserted'}")


def summary_markdown(diff: KgDiff, old_name: str, new_name: str, top: int = 15) -> str:
    """What a curator reads first: counts, then a few examples of each kind of change."""
    st = diff.stats
    lines = [f"# What changed: {old_name} → {new_name}", "",
             f"Concepts {st['old_concepts']:,} → {st['new_concepts']:,} ({st['common_concepts']:,} in both); stated "
             f"facts {st['old_facts']:,} → {st['new_facts']:,} (+{st['facts_added']:,} / −{st['facts_removed']:,}; "
             f"is_a +{st['is_a_added']:,} / −{st['is_a_removed']:,}).", "", "| change | count |", "|---|---:|"]
    lines += [f"| {c.replace('_', ' ')} | {n:,} |" for c, n in diff.counts.items() if n]
    for change in CHANGE_TYPES:
        rows = diff.of(change)
        if not rows:
            continue
        lines += ["", f"## {change.replace('_', ' ').capitalize()} ({len(rows):,})", ""]
        for r in rows[:top]:
            lines.append("- " + _said(r))
        if len(rows) > top:
            lines.append(f"- … {len(rows) - top:,} more (changes.parquet)")
    return "\n".join(lines) + "\n"


def _said(r: dict[str, Any]) -> str:
    who = f"**{_md(r['label'])}** (`{r['id']}`)"
    old, new = "; ".join(_md(x) for x in r["old"]), "; ".join(_md(x) for x in r["new"])
    rel = f" {_md(r['relation_label'])}" if r["relation"] else ""
    detail = f" — {_md(r['detail'])}" if r["detail"] else ""
    if r["change"] in ("concept_added", "concept_removed"):
        return who + detail
    if r["change"] == "concept_obsoleted":
        return who + detail + (f": {new}" if new else "")
    if r["change"] in ("synonym_added", "fact_added", "inferred_added"):
        return f"{who}{rel} + {new}{detail}"
    if r["change"] in ("synonym_removed", "fact_removed", "inferred_removed"):
        return f"{who}{rel} − {old}{detail}"
    return f"{who}{rel}: {old or '∅'} → {new or '∅'}{detail}"


def _md(text: str) -> str:
    short = text if len(text) <= 160 else text[:157] + "…"
    return short.replace("|", "\\|").replace("\n", " ")
