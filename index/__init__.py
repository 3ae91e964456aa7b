"""The vector store side: the vector index (Qdrant Edge or a Qdrant server), embedders and the BM25 analyzer."""
