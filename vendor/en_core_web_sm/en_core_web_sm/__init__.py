"""Offline stand-in for spaCy's ``en_core_web_sm``.

``unstructured`` calls ``spacy.load("en_core_web_sm")`` and, when the package is
missing, downloads it from the internet at run time. BrokerKG must run offline and
only uses unstructured for element splitting, so this package answers that load
with a blank English pipeline plus a rule-based sentencizer.
"""

from __future__ import annotations

from typing import Any

__version__ = "3.8.0"


def load(**overrides: Any) -> Any:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp
