"""Retrieval: embeddings, chunking, lexical + vector index, hybrid search, cited answers."""
