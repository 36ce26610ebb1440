-- Training volume per ISO week (weeks start on Monday) and sport type, from {{ weeks_from }} up to
-- and including {{ day }}: distance in km, moving time in hours, elevation gain in m.
-- Reads only the partitions of those weeks.
-- An activity without a sport type (the table allows it) counts under '(no sport type)'.
{% import "summaries/strava_macros.jinja" as m -%}
SELECT
    CAST(date_trunc('week', start_date) AS date) AS week_start,
    {{ m.sport_volume() }}
FROM {{ database }}.{{ table }}
WHERE dt BETWEEN '{{ weeks_from }}' AND '{{ day }}'
    AND start_date >= TIMESTAMP '{{ weeks_from }} 00:00:00'
    AND start_date < TIMESTAMP '{{ day_after }} 00:00:00'
GROUP BY 1, 2
ORDER BY 1, 2
