"""Simulated exchanges: engine, order flow, fault layer, wire dialects and the aiohttp server."""
