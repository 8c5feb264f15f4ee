"""IRIs of the vocabularies kgtools reads (RDF, RDFS, OWL, SKOS, oboInOwl, IAO) and well-known prefixes."""

from __future__ import annotations

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
SKOSXL = "http://www.w3.org/2008/05/skos-xl#"
OBOINOWL = "http://www.geneontology.org/formats/oboInOwl#"
OBO = "http://purl.obolibrary.org/obo/"
SH = "http://www.w3.org/ns/shacl#"

RDF_TYPE = RDF + "type"
RDF_FIRST = RDF + "first"
RDF_REST = RDF + "rest"
RDF_NIL = RDF + "nil"

RDFS_LABEL = RDFS + "label"
RDFS_COMMENT = RDFS + "comment"
RDFS_SUBCLASSOF = RDFS + "subClassOf"
RDFS_SUBPROPERTYOF = RDFS + "subPropertyOf"

OWL_CLASS = OWL + "Class"
OWL_THING = OWL + "Thing"
OWL_NOTHING = OWL + "Nothing"
OWL_ONTOLOGY = OWL + "Ontology"
OWL_IMPORTS = OWL + "imports"
OWL_VERSION_IRI = OWL + "versionIRI"
OWL_VERSION_INFO = OWL + "versionInfo"
OWL_DEPRECATED = OWL + "deprecated"
OWL_DEPRECATED_CLASS = OWL + "DeprecatedClass"
OWL_RESTRICTION = OWL + "Restriction"
OWL_ON_PROPERTY = OWL + "onProperty"
OWL_ON_CLASS = OWL + "onClass"
OWL_SOME = OWL + "someValuesFrom"
OWL_ALL = OWL + "allValuesFrom"
OWL_HAS_VALUE = OWL + "hasValue"
OWL_QUALIFIED_CARD = OWL + "qualifiedCardinality"
OWL_MIN_QUALIFIED_CARD = OWL + "minQualifiedCardinality"
OWL_MAX_QUALIFIED_CARD = OWL + "maxQualifiedCardinality"
OWL_CARDINALITY = OWL + "cardinality"
OWL_MIN_CARDINALITY = OWL + "minCardinality"
OWL_MAX_CARDINALITY = OWL + "maxCardinality"
OWL_ON_DATA_RANGE = OWL + "onDataRange"
OWL_INTERSECTION_OF = OWL + "intersectionOf"
OWL_UNION_OF = OWL + "unionOf"
OWL_EQUIVALENT_CLASS = OWL + "equivalentClass"
OWL_DISJOINT_WITH = OWL + "disjointWith"
OWL_ALL_DISJOINT_CLASSES = OWL + "AllDisjointClasses"
OWL_MEMBERS = OWL + "members"
OWL_NAMED_INDIVIDUAL = OWL + "NamedIndividual"
OWL_OBJECT_PROPERTY = OWL + "ObjectProperty"
OWL_ANNOTATION_PROPERTY = OWL + "AnnotationProperty"
OWL_DATATYPE_PROPERTY = OWL + "DatatypeProperty"
RDF_PROPERTY = RDF + "Property"
# Properties whose literal values the kg keeps on each node (synth.literals asks the chosen ones).
VALUE_PROPERTY_TYPES = frozenset({OWL_ANNOTATION_PROPERTY, OWL_DATATYPE_PROPERTY, RDF_PROPERTY})
OWL_INVERSE_OF = OWL + "inverseOf"
OWL_TRANSITIVE_PROPERTY = OWL + "TransitiveProperty"
OWL_SYMMETRIC_PROPERTY = OWL + "SymmetricProperty"
OWL_PROPERTY_CHAIN = OWL + "propertyChainAxiom"
RDFS_DOMAIN = RDFS + "domain"
RDFS_RANGE = RDFS + "range"
# schema.org's non-exhaustive domain and range ("a property of these types, among others"), both schemes
SCHEMA_DOMAIN_INCLUDES = ("http://schema.org/domainIncludes", "https://schema.org/domainIncludes")
SCHEMA_RANGE_INCLUDES = ("http://schema.org/rangeIncludes", "https://schema.org/rangeIncludes")
RDFS_LITERAL = RDFS + "Literal"
IAO_REPLACED_BY = "http://purl.obolibrary.org/obo/IAO_0100001"  # term replaced by (OBO `replaced_by:`)
OBO_CONSIDER = "http://www.geneontology.org/formats/oboInOwl#consider"
DCTERMS_REPLACED_BY = "http://purl.org/dc/terms/isReplacedBy"
RDF_LANG_STRING = RDF + "langString"
# A datatype as the value a property expects, in words ("What does 'start date' expect?" → "a date")
DATATYPE_WORDS = {
    "string": "text", "normalizedString": "text", "token": "text", "langString": "text", "Literal": "literal value",
    "PlainLiteral": "text", "date": "date", "dateTime": "date-time", "dateTimeStamp": "date-time",
    "time": "time", "gYear": "year", "gYearMonth": "year-month", "duration": "duration", "boolean": "boolean",
    "decimal": "decimal number", "double": "number", "float": "number", "integer": "integer", "int": "integer",
    "long": "integer", "nonNegativeInteger": "non-negative integer", "positiveInteger": "positive integer",
    "anyURI": "URI", "language": "language tag", "hexBinary": "binary data", "base64Binary": "binary data",
}
# Subclasses of owl:ObjectProperty that some files use as the only type of a property.
OBJECT_PROPERTY_TYPES = frozenset(
    OWL + t
    for t in (
        "ObjectProperty",
        "TransitiveProperty",
        "SymmetricProperty",
        "AsymmetricProperty",
        "ReflexiveProperty",
        "IrreflexiveProperty",
        "FunctionalProperty",
        "InverseFunctionalProperty",
    )
)

SKOS_CONCEPT = SKOS + "Concept"
SKOS_CONCEPT_SCHEME = SKOS + "ConceptScheme"
SKOS_PREF_LABEL = SKOS + "prefLabel"
SKOS_ALT_LABEL = SKOS + "altLabel"
SKOS_DEFINITION = SKOS + "definition"
SKOS_SCOPE_NOTE = SKOS + "scopeNote"
SKOS_BROADER = SKOS + "broader"
SKOS_NARROWER = SKOS + "narrower"
SKOS_RELATED = SKOS + "related"
SKOS_NOTATION = SKOS + "notation"
SKOS_EXACT_MATCH = SKOS + "exactMatch"

IAO_DEFINITION = OBO + "IAO_0000115"
OBO_EXACT_SYNONYM = OBOINOWL + "hasExactSynonym"
OBO_RELATED_SYNONYM = OBOINOWL + "hasRelatedSynonym"
OBO_NARROW_SYNONYM = OBOINOWL + "hasNarrowSynonym"
OBO_BROAD_SYNONYM = OBOINOWL + "hasBroadSynonym"
OBO_XREF = OBOINOWL + "hasDbXref"
IAO_ALTERNATIVE_TERM = OBO + "IAO_0000118"  # 'alternative label' in OBO ontologies that predate oboInOwl synonyms
COMMONS_AV = "https://www.omg.org/spec/Commons/AnnotationVocabulary/"  # OMG Commons, used by FIBO
COMMONS_SYNONYM = COMMONS_AV + "synonym"
COMMONS_ABBREVIATION = COMMONS_AV + "abbreviation"
COMMONS_ACRONYM = COMMONS_AV + "acronym"

SYNONYM_SCOPES = {
    OBO_EXACT_SYNONYM: "exact",
    OBO_RELATED_SYNONYM: "related",
    OBO_NARROW_SYNONYM: "narrow",
    OBO_BROAD_SYNONYM: "broad",
    SKOS_ALT_LABEL: "exact",
    IAO_ALTERNATIVE_TERM: "exact",
    COMMONS_SYNONYM: "exact",
    COMMONS_ABBREVIATION: "abbreviation",
    COMMONS_ACRONYM: "abbreviation",
}

# Namespaces whose terms are vocabulary, never domain concepts (STW embeds the SKOS vocabulary itself).
RESERVED_NAMESPACES = (RDF, RDFS, OWL, XSD, SKOS, SKOSXL, OBOINOWL, SH)

WELL_KNOWN_PREFIXES = {
    "rdf": RDF,
    "rdfs": RDFS,
    "owl": OWL,
    "xsd": XSD,
    "skos": SKOS,
    "oboInOwl": OBOINOWL,
    "dcterms": "http://purl.org/dc/terms/",
    "dc": "http://purl.org/dc/elements/1.1/",
}

# Labels of Relation Ontology / BFO properties that OBO "base" modules use without declaring them
# (MAxO: RO_0002233 on 1,306 restrictions, none labelled in the file). Taken from RO's own rdfs:labels.
OBO_RELATION_LABELS = {
    "BFO:0000050": "part of",
    "BFO:0000051": "has part",
    "BFO:0000066": "occurs in",
    "RO:0000052": "characteristic of",
    "RO:0000053": "has characteristic",
    "RO:0000056": "participates in",
    "RO:0000057": "has participant",
    "RO:0000087": "has role",
    "RO:0001025": "located in",
    "RO:0002200": "has phenotype",
    "RO:0002233": "has input",
    "RO:0002234": "has output",
    "RO:0002331": "involved in",
    "RO:0002573": "has modifier",
    "RO:0002606": "is substance that treats",
    "RO:0002452": "has symptom",
    "RO:0004001": "has material basis in",
}

# What the Relation Ontology says of the relations above, for OBO "base" modules that use them without
# importing RO (MAxO, DOID): applied only to a relation the loaded files say nothing about. From RO's own
# axioms: 'part of', 'has part' and 'located in' are transitive; 'occurs in' and 'located in' hold over
# 'part of' (X occurs in Y, Y part of Z → X occurs in Z); the pairs are inverses.
RO_AXIOMS: dict[str, dict[str, object]] = {
    "BFO:0000050": {"transitive": True, "inverse_of": ["BFO:0000051"]},
    "BFO:0000051": {"transitive": True, "inverse_of": ["BFO:0000050"]},
    "RO:0001025": {"transitive": True, "chains": [["RO:0001025", "BFO:0000050"]]},
    "BFO:0000066": {"chains": [["BFO:0000066", "BFO:0000050"]]},
    "RO:0000056": {"inverse_of": ["RO:0000057"]},
    "RO:0000057": {"inverse_of": ["RO:0000056"]},
    "RO:0000052": {"inverse_of": ["RO:0000053"]},
    "RO:0000053": {"inverse_of": ["RO:0000052"]},
}

# What an ontology's header says about the release: the keys of ``SourceFile.header`` and the properties
# read for each (the first one present wins, in this order).
HEADER_PROPERTIES = {
    "title": ("http://purl.org/dc/terms/title", "http://purl.org/dc/elements/1.1/title", RDFS_LABEL),
    "version": (OWL_VERSION_INFO,),
    "version_iri": (OWL_VERSION_IRI,),
    "license": ("http://purl.org/dc/terms/license", "http://purl.org/dc/elements/1.1/license",
                "http://creativecommons.org/ns#license", "http://purl.org/dc/terms/rights",
                "http://purl.org/dc/elements/1.1/rights"),
}
