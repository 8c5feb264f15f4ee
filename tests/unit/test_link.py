from __future__ import annotations

from kgtools.corpus.link import Linker, LinkStats, plural, variants
from kgtools.graph.model import KnowledgeGraph


def test_plural_and_variants():
    assert plural("antibiotic") == "antibiotics" and plural("virus") == "viruses"
    assert plural("red blood cell") == "red blood cells" and plural("artery") == "arteries" and plural("day") == "days"
    assert variants("beta-blocker") == {"beta-blocker", "beta blocker", "beta-blockers", "beta blockers"}
    assert variants("ETF") == {"ETF", "ETFs"}


def kg_of(*nodes):
    kg = KnowledgeGraph()
    kg.add_nodes((n, {"label": label, "synonyms": syns, "synonym_scopes": ["exact"] * len(syns), "kind": "class"})
                 for n, label, syns in nodes)
    return kg


def test_longest_match_case_rules_and_exclusions():
    kg = kg_of(("x:sec", "U.S. Securities and Exchange Commission", ["SEC"]), ("x:cough", "cough", []),
               ("x:dry", "dry cough", []), ("x:call", "call option", ["call"]), ("x:ra", "rheumatoid arthritis", ["RA"]))
    linker = Linker(kg)
    text = "The U.S. Securities and Exchange Commission (SEC) noted a dry cough. Call the sec office. Ra moved."
    found = [(m["surface"], m["node_id"]) for m in linker.mentions(linker.nlp(text))]
    # the label as written, an acronym only in upper case, the longest match, and no bare stop word ("call")
    assert found == [("U.S. Securities and Exchange Commission", "x:sec"), ("SEC", "x:sec"), ("dry cough", "x:dry")]


def test_records_offsets_and_unlinked_phrases():
    kg = kg_of(("x:flu", "influenza", ["flu"]))
    linker = Linker(kg)
    stats = LinkStats()
    texts = [("Influenza spreads in winter. The World Health Organization tracks flu.", "a.txt:1"),
             ("Nothing relevant.", "a.txt:3")]
    records = list(linker.link(texts, stats))
    assert len(records) == 1 and stats.dropped_few_mentions == 1 and stats.kept == 1
    r = records[0]
    assert [(r["text"][m["start"]:m["end"]], m["node_id"]) for m in r["mentions"]] == [("Influenza", "x:flu"), ("flu", "x:flu")]
    assert stats.unlinked["World Health Organization"] == 1
    assert "Influenza" not in stats.unlinked and "Nothing" not in stats.unlinked  # linked / sentence start
