"""From a run's candidates to winners: run-level simplification, the funnel, what to export."""
