-- Savings candidate: zero-byte "folder" objects (current versions of keys ending in '/', made by
-- consoles and tools as prefixes; S3 needs none of them). Free in STANDARD, billed at the minimum
-- billable size or the per-object overhead in other classes, and listed by every inventory. Per
-- top-level prefix (the {{ savings.top_prefixes }} with the most of them, the others as
-- '(other prefixes)'), storage class and Intelligent-Tiering access tier: the quantities they are billed
-- for (inventory_macros.jinja).
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
WITH per_prefix AS (
    SELECT
        {{ m.top_prefix() }} AS prefix,
        coalesce(storage_class, 'UNKNOWN') AS storage_class,
        {{ m.access_tier() }} AS access_tier,
        {{ m.billed_quantities() }}
    FROM {{ database }}.{{ table }}
    WHERE dt = '{{ dt }}'
        AND {{ m.is_current() }}
        AND size = 0
        AND {{ m.decoded('key') }} LIKE '%/'
    GROUP BY 1, 2, 3
),
ranked AS (
    SELECT prefix, row_number() OVER (ORDER BY sum(objects) DESC, prefix) AS position
    FROM per_prefix
    GROUP BY prefix
)
SELECT
    CASE WHEN ranked.position <= {{ savings.top_prefixes }} THEN per_prefix.prefix ELSE '(other prefixes)' END
        AS prefix,
    per_prefix.storage_class,
    per_prefix.access_tier,
    sum(per_prefix.objects) AS objects,
    sum(per_prefix.bytes) AS bytes,
    sum(per_prefix.billable_bytes) AS billable_bytes,
    sum(per_prefix.standard_overhead_bytes) AS standard_overhead_bytes,
    sum(per_prefix.monitored_objects) AS monitored_objects,
    sum(per_prefix.committed_byte_days) AS committed_byte_days
FROM per_prefix
JOIN ranked ON per_prefix.prefix = ranked.prefix
GROUP BY 1, 2, 3
ORDER BY min(ranked.position), 2, 3
