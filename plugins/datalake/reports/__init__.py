"""The daily summaries: Athena queries over the day's data, an HTML report, and its page in the UI."""

DAG_ID = "daily_summaries"  # the DAG that writes the reports; whoever may read it may read them
