"""English for labels: splitting identifiers into words, verb and noun forms (lemminflect), articles by
sound, and markup-free text. Used by the graph builder (readable names) and by the relation templates
(how a relation is said), so that both stages say things the same way and no word is made by string surgery.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

_PREPOSITIONS = frozenset({"by", "in", "on", "to", "of", "from", "with", "at", "for", "into", "as", "about", "than",
                           "against", "within", "via", "under", "over", "through", "between", "among", "upon",
                           "onto", "toward", "towards", "after", "before", "during", "without", "across",
                           "following", "including", "regarding", "concerning"})
_COORDINATORS = frozenset({"and", "or"})

# CamelCase and snake_case pieces: an acronym before a capitalised word ("CDOOrigination" → CDO, Origination),
# a capitalised or lower-case word, digits.
_PIECE = re.compile(r"[A-Z]{2,}(?=[A-Z][a-z]|\d|$)|[A-Z]?[a-z]+|[A-Z]+|\d+")


def is_preposition(word: str) -> bool:
    return word.lower() in _PREPOSITIONS


def is_acronym(word: str) -> bool:
    """'CDO', 'HIV', 'mRNA', 'GST/HST': two or more capitals (case matters for these words)."""
    return sum(c.isupper() for c in word) >= 2


def split_identifier(text: str) -> list[str] | None:
    """The words of an identifier-like label ('MusicEvent' → ['music', 'event'], 'has_symptom',
    'hasCDOOriginationObjective' → ['has', 'CDO', 'origination', 'objective']); ``None`` when ``text`` is
    not one (it has spaces, or splitting would cut a word such as 'mRNA', 'pH' or 'iPhone')."""
    if not text or " " in text:
        return None
    if "_" not in text and not re.search(r"[a-z][A-Z]|[A-Z]{2,}[a-z]", text):
        return None  # a plain or hyphenated word ("co-maker", "X-ray", "long-term") is no identifier
    parts = [p for p in re.split(r"[_\-]+", text) if p]
    pieces: list[str] = []
    for part in parts:
        found = _PIECE.findall(part)
        if "".join(found) != part:
            return None
        pieces += found
    if len(pieces) < 2 or any(len(p) < 2 and not p.isdigit() for p in pieces):
        return None
    return [p if is_acronym(p) else p.lower() for p in pieces]


_SPELLED = re.compile(r"(?<![\w-])((?:[a-z] ){1,}[a-z])(?![\w-])")


def join_spelled_acronyms(label: str) -> str | None:
    """'c d o securitization process' → 'CDO securitization process': a label generator that split an
    acronym into letters (FIBO has dozens). Two letters count only when neither is a word ('a', 'i');
    ``None`` when there is nothing to join."""
    def repl(m: re.Match) -> str:
        letters = m.group(1).split()
        if len(letters) == 2 and set(letters) & {"a", "i"}:
            return m.group(1)
        return "".join(letters).upper()

    joined = _SPELLED.sub(repl, label)
    return joined if joined != label else None


def humanize(local: str) -> str:
    """'isGovernedBy' → 'is governed by', 'has_symptom' → 'has symptom', 'hasCDOObjective' → 'has CDO
    objective'; an opaque id ('RO_0002233') or a single word stays as it is."""
    if re.match(r"^[A-Za-z]+_?\d+$", local):
        return local
    words = split_identifier(local)
    if words is None:
        return local.replace("_", " ").strip()
    return " ".join(words)


def label_words(label: str) -> list[str]:
    """A relation label as words, in the case the ontology wrote them (acronyms and proper names kept).
    An identifier-like label is split; a label written in Title Case ('Has Symptom') is lowered, acronyms
    excepted."""
    text = " ".join(label.replace("_", " ").split())
    if " " not in text and (words := split_identifier(text)) is not None:
        return words
    words = text.split()
    if len(words) > 1 and all(w[:1].isupper() for w in words if w[:1].isalpha()):
        words = [w if is_acronym(w) else w.lower() for w in words]
    elif words and not is_acronym(words[0]):
        words[0] = words[0][:1].lower() + words[0][1:]
    return words


# -- morphology (lemminflect) ---------------------------------------------------------------------------
class _NoSpacy:
    """A meta-path finder that reports spaCy as absent (see :func:`_lemminflect`)."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "spacy" or name.startswith("spacy."):
            raise ImportError("spaCy is not imported for lemminflect")
        return None


@lru_cache(maxsize=1)
def _lemminflect():
    """lemminflect, imported without its optional spaCy hook. The hook imports spaCy, which imports thinc
    and torch (1.8 s per process, against 0.1 s without), and kgtools does not use it; lemminflect skips
    the hook when ``import spacy`` fails, which a finder placed first on ``sys.meta_path`` makes it do for
    the length of this one import (if spaCy is already imported, the hook is installed as usual)."""
    import sys

    if "lemminflect" in sys.modules or "spacy" in sys.modules:
        import lemminflect

        return lemminflect
    blocker = _NoSpacy()
    sys.meta_path.insert(0, blocker)
    try:
        import lemminflect
    finally:
        sys.meta_path.remove(blocker)
    return lemminflect


@lru_cache(maxsize=8192)
def verb_lemma(word: str) -> str | None:
    """The base form of a third-person verb ('immunizes' → 'immunize', 'identifies' → 'identify'), or
    ``None`` if lemminflect does not know ``word`` as one."""
    li = _lemminflect()
    low = word.lower()
    lemmas = li.getAllLemmas(low, upos="VERB").get("VERB")
    if not lemmas:
        return None
    for lemma in lemmas:
        if low in (li.getInflection(lemma, tag="VBZ") or ()) and lemma != low:
            return lemma
    return None


@lru_cache(maxsize=8192)
def past_participle(lemma: str) -> str | None:
    forms = _lemminflect().getInflection(lemma, tag="VBN")
    return forms[0] if forms else None


@lru_cache(maxsize=8192)
def third_person(lemma: str) -> str | None:
    forms = _lemminflect().getInflection(lemma, tag="VBZ")
    return forms[0] if forms else None


@lru_cache(maxsize=8192)
def participle_lemma(word: str) -> str | None:
    """The verb a past participle comes from ('caused' → 'cause', 'funded' → 'fund'), or ``None``."""
    li = _lemminflect()
    low = word.lower()
    for lemma in li.getAllLemmas(low, upos="VERB").get("VERB", ()):
        if low in (li.getInflection(lemma, tag="VBN") or ()) and lemma != low:
            return lemma
    return None


@lru_cache(maxsize=8192)
def is_noun(word: str) -> bool:
    return bool(_lemminflect().getAllLemmas(word.lower(), upos="NOUN").get("NOUN"))


@lru_cache(maxsize=8192)
def singular(word: str) -> str:
    """The singular of a plural noun ('uses' → 'use', 'criteria' → 'criterion'); other words unchanged."""
    if is_acronym(word):
        return word
    li = _lemminflect()
    low = word.lower()
    lemmas = li.getAllLemmas(low, upos="NOUN").get("NOUN") or ()
    for lemma in lemmas:
        if lemma != low and low in (li.getInflection(lemma, tag="NNS") or ()):
            return word[: 1] + lemma[1:] if word[:1].isupper() else lemma
    return word


@lru_cache(maxsize=8192)
def plural(noun_phrase: str) -> str:
    """A noun phrase with its head (last word) in the plural: 'legal address' → 'legal addresses',
    'party' → 'parties'; an uncountable or unknown head is left as it is ('information')."""
    words = noun_phrase.split()
    if not words or uncountable(noun_phrase) or is_acronym(words[-1]):
        return noun_phrase
    head = words[-1]
    forms = _lemminflect().getInflection(head.lower(), tag="NNS")
    if not forms:
        return noun_phrase
    form = forms[0]
    return " ".join([*words[:-1], head[:1] + form[1:] if head[:1].isupper() else form])


# Articles and countability are decided here rather than by `inflect`: its import takes 1.7 s per process
# (typeguard instruments it), more than generating a small ontology's whole data set.
_LETTER_AN = frozenset("AEFHILMNORSX")  # letters whose name starts with a vowel sound: "an MRI", "an FDA"
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "uro", "ura", "ure", "eu", "ewe", "one", "once", "ubiq", "uga")
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")
_UNCOUNTABLE = frozenset(
    "information evidence equipment knowledge advice research data software guidance legislation money cash "
    "income revenue insurance compliance funding feedback documentation metadata access health welfare "
    "governance oversight supervision consent treatment therapy".split())


@lru_cache(maxsize=8192)
def article(noun_phrase: str) -> str:
    """'a' or 'an' for a noun phrase, by sound: 'an hour', 'a university', 'an MRI', 'an 8-K'."""
    word = noun_phrase.split()[0] if noun_phrase.split() else ""
    if not word:
        return "a"
    if is_acronym(word) or len(word) == 1 or (word[0].isupper() and word[:2].isupper()):
        return "an" if word[0].upper() in _LETTER_AN else "a"
    if word[0].isdigit():
        return "an" if word.startswith("8") or re.match(r"1[18](\D|$)", word) else "a"
    low = word.lower()
    if low.startswith(_SILENT_H):
        return "an"
    if low.startswith(_CONSONANT_SOUND):
        return "a"
    return "an" if low[0] in "aeiou" else "a"


def uncountable(noun_phrase: str) -> bool:
    """'additional information', 'evidence': mass nouns take no article and no 'one'."""
    words = noun_phrase.split()
    return bool(words) and words[-1].lower() in _UNCOUNTABLE


def with_article(noun_phrase: str) -> str:
    """'a symptom', 'an MRI', 'additional information' (no article for an uncountable noun)."""
    if uncountable(noun_phrase):
        return noun_phrase
    return f"{article(noun_phrase)} {noun_phrase}"


def singular_phrase(noun_phrase: str) -> str:
    """A noun phrase with its head (last word) in the singular: 'redemption restrictions' → '… restriction'."""
    words = noun_phrase.split()
    return " ".join([*words[:-1], singular(words[-1])]) if words else noun_phrase


# -- text hygiene ---------------------------------------------------------------------------------------
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
_WIKI = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]")
_MD_LINK = re.compile(r"\[([^\]]+)\]\((?:https?://|www\.)[^)]*\)")
_BOLD = re.compile(r"(\*\*|__|''')(.+?)\1")


def clean_text(text: str | None) -> str:
    """A definition as a reader should see it: HTML tags and entities, wiki and markdown links and
    emphasis removed, whitespace collapsed. The graph keeps the text as the ontology wrote it."""
    if not text:
        return ""
    out = _WIKI.sub(r"\1", text)
    out = _MD_LINK.sub(r"\1", out)
    out = _TAG.sub(" ", out)
    out = _BOLD.sub(r"\2", out)
    out = html.unescape(out)
    out = _SNAKE_WORDS.sub(lambda m: m.group(0).replace("_", " "), out)
    out = " ".join(out.split())
    return re.sub(r"\s+([,.;:])", r"\1", out)


# relation names written as identifiers inside prose ("has_material_basis_in", DOID's logical definitions);
# lower-case words only, so gene and protein symbols (TP53_HUMAN) and codes stay as written
_SNAKE_WORDS = re.compile(r"(?<![\w/#:])[a-z]+(?:_[a-z]+)+(?![\w/#:])")


_METADATA = re.compile(r"^[A-Z][\w /()-]{0,40}:\s*\S")
_NOTE_WORDS = re.compile(r"^(see also|note|todo|fixme|deprecated|obsolete|imported|created|editor|source|ref)\b", re.I)


def reads_like_definition(text: str | None) -> bool:
    """Whether an ``rdfs:comment`` is a definition rather than a note: at least four words, not
    'Key: value' metadata ('Product Name: …'), not an editor's note or a bare reference."""
    cleaned = clean_text(text)
    if len(cleaned.split()) < 4:
        return False
    if _METADATA.match(cleaned) or _NOTE_WORDS.match(cleaned):
        return False
    return not re.match(r"^(https?://|www\.)\S+$", cleaned)
