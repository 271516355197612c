"""The companion: what builds the book from the notebooks (book build, result files, claims ledger,
figures). Uses the core and the text side; nothing imports it but notebooks and tests."""
