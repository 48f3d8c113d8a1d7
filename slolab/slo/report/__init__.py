"""Compliance reports over a period, by role.

- :mod:`.analysis`: the figures, from Prometheus (:func:`~.analysis.build`) or
  from events per step (:func:`~.analysis.analyse`), as a :class:`~.analysis.Report`;
- :mod:`.text`: the summary table and fact lines every renderer prints;
- :mod:`.markdown`: the report as markdown;
- :mod:`.html`: one self-contained HTML page (CSS inline, no script);
- :mod:`.svg`: the inline SVG charts (the HTML page and the PDF draw them).

The renderers take a :class:`~.analysis.Report` and know nothing of Prometheus.
"""
