"""Query → evidence → answer: hybrid search, graph expansion, extractive answers, product flags."""
