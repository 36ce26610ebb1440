"""The daily summaries: Athena queries over the day's data, an HTML report, and its page in the UI."""
