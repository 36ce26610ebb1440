"""Amazon S3 Inventory reports as Athena tables: find each drop, check it, register it as a partition."""
