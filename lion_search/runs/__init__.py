"""Run folders: the SQLite journal (journal, journal_schema, journal_sqlite: all SQL), RUN:ID
references, listing, the hall of fame, salvage."""
