{#- The Strava database (name from include/datalake.yaml: strava.database). -#}
CREATE DATABASE IF NOT EXISTS {{ params.database }}
