"""The browser dashboard of ``slolab dashboard``: live SLOs, burn-down, alerts, faults."""
