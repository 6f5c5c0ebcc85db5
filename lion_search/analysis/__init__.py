"""What a program is before it trains: duplicates (data-flow hash, fingerprint) and the lr check."""
