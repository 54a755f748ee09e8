"""LocalStack plugins for dns-safeguards' integration tests (loaded by LocalStack, not by the library)."""
