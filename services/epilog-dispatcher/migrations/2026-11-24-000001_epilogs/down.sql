DROP TABLE epilog_attempts;
DROP TABLE epilog_jobs;
