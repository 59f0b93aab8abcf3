"""The failover suite through S1, and the lab control, load and site client it shares."""
