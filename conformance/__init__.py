"""The conformance suite: scenarios and checks that run a connector against the mock exchanges."""
