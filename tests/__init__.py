"""Test suite for jiancha (unit, property and real-service integration tests)."""
