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
{{ m.top_prefixes_by_class("objects") }}
