"""Embedding (cached), FAISS nearest neighbours, exact and semantic dedupe, decontamination."""
