"""slolab: instrumented demo services, SLO as code and a lab to watch an error budget burn."""

__version__ = "0.1.0"
