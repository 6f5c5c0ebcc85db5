"""The run report: PNG plots in the run folder and one self-contained `report.html`.

    fitness.png     best-so-far fitness, and the median of the population (the last P
                    evaluations), against search evaluations; the seed's fitness for reference
    metaval.png     the proxy best-so-far and the meta-validation fitness (the best-so-far
                    re-evaluated on a larger held-out task) against search evaluations
                    (only when the run has meta-validation evaluations)
    promotion.png   the proxy best-so-far, and the promoted score of each promoted program
                    with the best promoted score so far, against search evaluations (only
                    when the run has promoted programs)
    pareto.png      the hall of fame: fitness against memory cost and against length, the
                    Pareto front highlighted
    throughput.png  trained evaluations per second and the cache hit rate over wall time
    report.html     the plots (embedded as data URIs, so the file opens from disk anywhere),
                    the top programs with their text, the Pareto front, the best program's
                    lineage, the seeds, the funnel table (when RUN/funnel.json exists) and the
                    run's config

Failed evaluations (infinite fitness) are left out of the plots. Only reads the journal, so it
reports on a run that a live search is still writing (as of the moment it reads).

Modules, in the order data flows (each imports only those above it):

    series    what the plots show, read from the journal: search evaluations, best so far,
              rolling median and failed share of the population, throughput bins
    figures   the PNG plots, drawn with matplotlib (Agg backend)
    tables    HTML escaping and tables: the generic table, the funnel, the lineage
    page      `write_report`: the plots written to the run folder and report.html assembled
"""
from lion_search.inspect.report.figures import (
           plot_beside_proxy,
           plot_fitness,
           plot_pareto,
           plot_throughput,
)
from lion_search.inspect.report.page import (
           FUNNEL,
           PLOTS,
           REPORT,
           read_funnel,
           write_report,
)
from lion_search.inspect.report.series import (
           best_so_far,
           rolling_failed,
           rolling_median,
           throughput,
)
from lion_search.inspect.report.tables import funnel_html

__all__ = ["FUNNEL", "PLOTS", "REPORT", "best_so_far", "funnel_html", "plot_beside_proxy",
           "plot_fitness", "plot_pareto", "plot_throughput", "read_funnel", "rolling_failed",
           "rolling_median", "throughput", "write_report"]
