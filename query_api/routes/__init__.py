"""HTTP routes, one module per audience: billing clients, admins, event producers, anyone."""
