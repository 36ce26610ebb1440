-- The days before {{ day }} in the daily storage summary, one row per day and storage class: what the
-- cost trend, the growth chart and the anomaly checks compare the day with (datalake.reports.history).
-- Reads only the summary table's days {{ trend_from }} to {{ trend_to }}, never an inventory drop.
SELECT
    day,
    dt,
    storage_class,
    objects,
    bytes,
    noncurrent_objects,
    noncurrent_bytes,
    delete_markers,
    unencrypted_objects,
    cost_current,
    cost_noncurrent,
    cost_delete_markers,
    commitment
FROM {{ summary_database }}.{{ summary_table }}
WHERE day BETWEEN '{{ trend_from }}' AND '{{ trend_to }}'
    AND inventory = '{{ inventory }}'
ORDER BY day, storage_class
