{#- The Glue database of the daily storage summary (reports.summary_database). -#}
CREATE DATABASE IF NOT EXISTS `{{ params.database }}`
