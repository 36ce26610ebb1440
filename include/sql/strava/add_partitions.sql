{#- Register the partition of every day this run listed, in one statement (a day registered before is
    left as it is). A scheduled run's days come from its data interval and the configuration, never from
    an XCom (strava_window_days is datalake.strava.tasks.window_days, a macro of the DAG); a run that push
    events started has no data interval: its days are those its extraction listed, each checked to be a
    real day and written back as YYYY-MM-DD (strava_pushed_days, tasks.pushed_partition_days). -#}
{%- set pushed = dag_run is defined and dag_run.run_type == 'asset_triggered' %}
{%- set days = strava_pushed_days(ti) if pushed else strava_window_days(data_interval_end) %}
ALTER TABLE {{ params.database }}.{{ params.table }} ADD IF NOT EXISTS
{%- for day in days %}
PARTITION (dt = '{{ day }}') LOCATION '{{ params.location }}dt={{ day }}/'
{%- endfor %}
