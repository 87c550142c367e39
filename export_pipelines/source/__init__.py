"""Reading the source database: engines, filter conditions, keyset queries and chunk fetchers."""
