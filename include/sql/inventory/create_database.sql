{#- The Glue database that holds the inventory tables. -#}
CREATE DATABASE IF NOT EXISTS `{{ params.database }}`
