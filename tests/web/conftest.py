from tests.slo.conftest import fake_prom, toolkit_slos  # noqa: F401 - shared fixtures
