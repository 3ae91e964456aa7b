"""The ground floor: errors, document/chunk/fact types, the fact-type table, citation references,
numerals and personal-data masking. No I/O, and no import from any other package of ours."""
