"""Semantic, lexical and hybrid code search: embedding providers and their indexes."""
