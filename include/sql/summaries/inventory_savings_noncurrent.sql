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
{{ m.top_prefixes_by_class("bytes") }}
