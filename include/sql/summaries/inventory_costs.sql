-- What one S3 Inventory drop is billed for, per storage class, Intelligent-Tiering access tier and
-- version state (current, non-current, delete marker): the quantities the price table turns into USD a
-- month (datalake.reports.costs), with each object's minimum billable size, per-object overhead and
-- minimum storage duration applied (inventory_macros.jinja). Delete markers are billed for their key
-- names in STANDARD.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
SELECT
    CASE WHEN coalesce(is_delete_marker, FALSE) THEN 'STANDARD' ELSE coalesce(storage_class, 'UNKNOWN') END
        AS storage_class,
    {{ m.access_tier() }} AS access_tier,
    CASE
        WHEN coalesce(is_delete_marker, FALSE) THEN 'delete_marker'
        WHEN coalesce(is_latest, TRUE) THEN 'current'
        ELSE 'noncurrent'
    END AS state,
    {{ m.billed_quantities() }}
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
