-- Current versions per storage class and age at the drop's time (since their last modification), in
-- the buckets of datalake.reports.queries.AGE_BUCKETS: bucket i holds the ages below its edge and at
-- or above the one before ({{ age_edges | join(", ") }} days; the last bucket: the older ones).
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
SELECT
    storage_class,
    CASE
        {%- for edge in age_edges %}
        WHEN age < {{ edge }} THEN {{ loop.index0 }}
        {%- endfor %}
        ELSE {{ age_edges | length }}
    END AS age_bucket,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes
FROM (
    SELECT coalesce(storage_class, 'UNKNOWN') AS storage_class, size, {{ m.age_days() }} AS age
    FROM {{ database }}.{{ table }}
    WHERE dt = '{{ dt }}' AND {{ m.is_current() }}
)
GROUP BY 1, 2
ORDER BY 1, 2
