"""Files → typed documents, sections and chunks with stable ids."""
