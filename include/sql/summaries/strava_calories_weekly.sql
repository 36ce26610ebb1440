-- Calories per ISO week (weeks start on Monday), from {{ weeks_from }} up to and including {{ day }}:
-- the sum of Strava's estimate over the activities whose detailed view is fetched (strava.details),
-- and how many of them have none. Reads only the activity_details partitions of those weeks.
SELECT
    CAST(date_trunc('week', start_date) AS date) AS week_start,
    count(*) AS activities,
    count(*) - count(calories) AS without_calories,
    coalesce(sum(calories), 0) AS calories
FROM {{ database }}.activity_details
WHERE dt BETWEEN '{{ weeks_from }}' AND '{{ day }}'
    AND start_date >= TIMESTAMP '{{ weeks_from }} 00:00:00'
    AND start_date < TIMESTAMP '{{ day_after }} 00:00:00'
GROUP BY 1
ORDER BY 1
