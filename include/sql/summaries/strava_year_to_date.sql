-- Year to date against last year to date, per sport type: this year from {{ year_start }} up to
-- and including {{ day }}, last year from {{ last_year_start }} up to the same day of the year
-- ({{ last_year_day }}). Distance in km, moving time in hours, elevation gain in m.
-- Reads only the partitions of those two windows.
-- An activity without a sport type (the table allows it) counts under '(no sport type)'.
{% import "summaries/strava_macros.jinja" as m -%}
SELECT
    CASE WHEN start_date >= TIMESTAMP '{{ year_start }} 00:00:00' THEN 'this_year' ELSE 'last_year' END
        AS period,
    {{ m.sport_volume() }}
FROM {{ database }}.{{ table }}
WHERE (
        dt BETWEEN '{{ year_start }}' AND '{{ day }}'
        AND start_date >= TIMESTAMP '{{ year_start }} 00:00:00'
        AND start_date < TIMESTAMP '{{ day_after }} 00:00:00'
    )
    OR (
        dt BETWEEN '{{ last_year_start }}' AND '{{ last_year_day }}'
        AND start_date >= TIMESTAMP '{{ last_year_start }} 00:00:00'
        AND start_date < TIMESTAMP '{{ last_year_day_after }} 00:00:00'
    )
GROUP BY 1, 2
ORDER BY 1 DESC, 2
