"""pytest plugin of dns-safeguards (fixtures arrive with the race harness)."""
