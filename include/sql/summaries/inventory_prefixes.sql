-- Objects and bytes by top-level prefix (the key up to its first '/'; keys without one are counted
-- under '(top level)') in one S3 Inventory drop: the 25 largest. Counts current versions only.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
SELECT
    {{ m.top_prefix() }} AS prefix,
    count(*) AS objects,
    coalesce(sum(size), 0) AS bytes
FROM {{ database }}.{{ table }}
WHERE dt = '{{ dt }}'
    AND {{ m.is_current() }}
GROUP BY 1
ORDER BY bytes DESC, prefix
LIMIT 25
