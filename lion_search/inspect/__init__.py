"""Looking at runs: the summary, lineage, the live view, plots and the HTML report."""
