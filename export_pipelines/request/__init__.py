"""The request: what a user asks for, the rules it is checked against (catalog, permissions, limits,
recipients, withheld columns) and the plan it becomes."""
