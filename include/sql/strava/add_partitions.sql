{#- Register the partition of every day of this run's window, in one statement (a day registered before is
    left as it is). The days come from the data interval and the configuration, never from an XCom:
    strava_window_days is datalake.strava.tasks.window_days, a macro of the DAG. -#}
ALTER TABLE {{ params.database }}.{{ params.table }} ADD IF NOT EXISTS
{%- for day in strava_window_days(data_interval_end) %}
PARTITION (dt = '{{ day }}') LOCATION '{{ params.location }}dt={{ day }}/'
{%- endfor %}
