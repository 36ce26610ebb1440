{#- Register the partition of this run's data interval (a rerun finds it there already). -#}
ALTER TABLE {{ params.database }}.{{ params.table }} ADD IF NOT EXISTS
PARTITION (dt = '{{ data_interval_start | ds }}')
LOCATION '{{ params.location }}dt={{ data_interval_start | ds }}/'
