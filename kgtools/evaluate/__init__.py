"""Evaluation that shows what the fine-tune injected: closed-book QA on unseen phrasings, multiple choice by
log-likelihood, acceptance of corrupted facts, confident wrong entities, and retention."""
