"""Run folders: the SQLite journal (all SQL), RUN:ID references, listing, the hall of fame, salvage."""
