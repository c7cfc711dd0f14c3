"""Plan -> steps -> adapters. No SDK, no SQL: storage through ports, state through the ledger."""
