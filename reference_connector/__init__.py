"""A connector built on the exchange-connector architecture, which passes the conformance suite."""
