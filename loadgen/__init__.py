"""Locust load generator of slolab: users, load shapes (scenarios) and the fault driver."""
