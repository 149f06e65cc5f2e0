"""Wire contracts: the generation event producers send, and the billing API's bodies."""
