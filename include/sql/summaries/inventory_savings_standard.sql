-- Savings candidate: current versions in STANDARD last modified at least {{ savings.standard_age_days }}
-- days before the drop and of at least {{ savings.min_bytes }} bytes, which STANDARD_IA or GLACIER_IR
-- would store for less. Per top-level prefix (the {{ savings.top_prefixes }} largest by bytes, the
-- others as '(other prefixes)'): the bytes, and the bytes each of those classes would bill (its minimum
-- billable size applied). The dollars and the minimum durations: datalake.reports.costs.
-- Reads one partition: dt = '{{ dt }}'.
{% import "summaries/inventory_macros.jinja" as m with context -%}
WITH per_prefix AS (
    SELECT
        {{ m.top_prefix() }} AS prefix,
        count(*) AS objects,
        coalesce(sum(size), 0) AS bytes,
        coalesce(sum(greatest(size, {{ rules.min_bytes.get("STANDARD_IA", 0) }})), 0) AS standard_ia_bytes,
        coalesce(sum(greatest(size, {{ rules.min_bytes.get("GLACIER_IR", 0) }})), 0) AS glacier_ir_bytes
    FROM {{ database }}.{{ table }}
    WHERE dt = '{{ dt }}'
        AND {{ m.is_current() }}
        AND storage_class = 'STANDARD'
        AND size >= {{ savings.min_bytes }}
        AND {{ m.age_days() }} >= {{ savings.standard_age_days }}
    GROUP BY 1
),
ranked AS (
    SELECT
        prefix, objects, bytes, standard_ia_bytes, glacier_ir_bytes,
        row_number() OVER (ORDER BY bytes DESC, prefix) AS position
    FROM per_prefix
)
SELECT
    CASE WHEN position <= {{ savings.top_prefixes }} THEN prefix ELSE '(other prefixes)' END AS prefix,
    sum(objects) AS objects,
    sum(bytes) AS bytes,
    sum(standard_ia_bytes) AS standard_ia_bytes,
    sum(glacier_ir_bytes) AS glacier_ir_bytes
FROM ranked
GROUP BY 1
ORDER BY min(position)
