-- Savings candidate: non-current versions that have been non-current for at least
-- {{ savings.noncurrent_age_days }} days, what a lifecycle rule expiring them (NoncurrentVersionExpiration,
-- NoncurrentDays {{ savings.noncurrent_age_days }}) would delete. A version became non-current when the
-- next newer version or delete marker of its key was written. Per top-level prefix (the
-- {{ savings.top_prefixes }} largest by bytes, the others as '(other prefixes)'), storage class and
-- Intelligent-Tiering access tier: the quantities they are billed for (inventory_macros.jinja), the
-- minimum-duration charge an expiry would still cost included.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
WITH versions AS (
    SELECT
        key,
        size,
        storage_class,
        {% if tiers %}intelligent_tiering_access_tier,
        {% endif %}last_modified_date,
        is_latest,
        is_delete_marker,
        lag({{ m.modified_ms() }}) OVER (
            PARTITION BY key ORDER BY {{ m.modified_ms() }} DESC, coalesce(is_latest, TRUE) DESC
        ) AS superseded_ms
    FROM {{ database }}.{{ table }}
    WHERE dt = '{{ dt }}'
),
per_prefix AS (
    SELECT
        {{ m.top_prefix() }} AS prefix,
        coalesce(storage_class, 'UNKNOWN') AS storage_class,
        {{ m.access_tier() }} AS access_tier,
        {{ m.billed_quantities() }}
    FROM versions
    WHERE {{ m.is_noncurrent() }}
        AND superseded_ms <= {{ noncurrent_before_ms }}
    GROUP BY 1, 2, 3
),
ranked AS (
    SELECT prefix, row_number() OVER (ORDER BY sum(bytes) DESC, prefix) AS position
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
