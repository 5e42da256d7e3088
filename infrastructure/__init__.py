"""Event stores and what keeps the ledger's data safe at rest."""
