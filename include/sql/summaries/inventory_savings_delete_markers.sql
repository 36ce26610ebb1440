-- Savings candidate: delete markers with no versions behind them (every row of their key is a delete
-- marker), which a lifecycle rule with ExpiredObjectDeleteMarker removes: each is billed for its key name
-- in STANDARD and slows every listing of its prefix. Per top-level prefix (the {{ savings.top_prefixes }}
-- with the most of them, the others as '(other prefixes)'), in the columns of the other candidates.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
WITH lone AS (
    SELECT
        {{ m.top_prefix() }} AS prefix,
        count(*) AS markers,
        sum(length(to_utf8({{ m.decoded('key') }}))) AS key_bytes
    FROM {{ database }}.{{ table }}
    WHERE dt = '{{ dt }}'
    GROUP BY key
    HAVING bool_and(coalesce(is_delete_marker, FALSE))
),
per_prefix AS (
    SELECT prefix, sum(markers) AS objects, sum(key_bytes) AS billable_bytes FROM lone GROUP BY prefix
),
ranked AS (
    SELECT prefix, objects, billable_bytes, row_number() OVER (ORDER BY objects DESC, prefix) AS position
    FROM per_prefix
)
SELECT
    CASE WHEN position <= {{ savings.top_prefixes }} THEN prefix ELSE '(other prefixes)' END AS prefix,
    'STANDARD' AS storage_class,
    CAST(NULL AS varchar) AS access_tier,
    sum(objects) AS objects,
    0 AS bytes,
    sum(billable_bytes) AS billable_bytes,
    0 AS standard_overhead_bytes,
    0 AS monitored_objects,
    0 AS committed_byte_days
FROM ranked
GROUP BY 1
ORDER BY min(position)
