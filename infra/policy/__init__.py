"""The dns-safeguards policy pack (run by the Pulumi CLI from this folder)."""
